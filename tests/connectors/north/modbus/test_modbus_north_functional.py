"""Modbus North against a real in-process pymodbus TCP server: what it writes is read back from the server."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from fakes import RecordingLogger
from servers.modbus import ModbusTestServer, modbus_server

from connectors import registry
from connectors.base import ConnectorContext
from connectors.errors import ConnectorNotReady, SendError
from connectors.north.modbus import MANIFEST, ModbusNorth
from connectors.north.modbus.manifest import ModbusNorthSettings


@pytest.fixture
async def server() -> AsyncIterator[ModbusTestServer]:
    async with modbus_server() as started:
        yield started


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.lost: list[str] = []

    def north(self, port: int, **settings: Any) -> ModbusNorth:
        converted = msgspec.convert({"host": "127.0.0.1", "port": port, **settings}, ModbusNorthSettings)
        context = ConnectorContext(
            id="n1",
            name="setpoints",
            logger=RecordingLogger(),
            base_folder=self.tmp_path,
            data_folder=self.tmp_path,
            connection_lost=self.lost.append,
        )
        return ModbusNorth(converted, context)


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def content(*elements: dict[str, Any]) -> bytes:
    return msgspec.json.encode(list(elements))


def test_registered_with_its_content_type_only() -> None:
    assert registry.manifest("north", "modbus") is MANIFEST
    assert registry.connector_class("north", "modbus") is ModbusNorth
    assert MANIFEST.types == ("modbus",)


async def test_setpoints_are_read_back_from_the_server(server: ModbusTestServer, harness: Harness) -> None:
    north = harness.north(server.port, swapWordsInDWords=True)
    await north.start()
    try:
        await north.handle_content(
            "modbus",
            content(
                {"address": "10", "value": 1234, "modbusType": "register"},
                {"address": 11, "value": "-2", "modbusType": "register"},
                {"address": "0x14", "value": 3.5, "modbusType": "holding-register", "dataType": "float"},
                {"address": "30", "value": -1234.5678, "modbusType": "register", "dataType": "double"},
                {"address": "40", "value": 2**64 - 1, "modbusType": "register", "dataType": "big-uint64"},
                {"address": "50", "value": -70000, "modbusType": "register", "dataType": "int32"},
                {"address": "3", "value": True, "modbusType": "coil"},
                {"address": "4", "value": "1", "modbusType": "coil"},
                {"address": "5", "value": 0, "modbusType": "coil"},
            ),
        )
    finally:
        await north.stop()
    assert await server.get("holding-register", 10, 2) == [1234, 0xFFFE]
    assert await server.get("holding-register", 20, 2) == list(struct.unpack(">2H", struct.pack(">f", 3.5)))
    assert await server.get("holding-register", 30, 4) == list(struct.unpack(">4H", struct.pack(">d", -1234.5678)))
    assert await server.get("holding-register", 40, 4) == [0xFFFF] * 4
    assert await server.get("holding-register", 50, 2) == list(struct.unpack(">2H", struct.pack(">i", -70000)))
    assert await server.get("coil", 3, 3) == [1, 1, 0]
    multi = [request for request in server.requests if request.function_code == 16]
    assert [(request.address, request.count) for request in multi] == [(20, 2), (30, 4), (40, 4), (50, 2)]


async def test_byte_order_and_offset_match_the_south(server: ModbusTestServer, harness: Harness) -> None:
    # Upstream's defaults: low word first. jbus: address 101 is register 100 on the wire. Unit id 9.
    north = harness.north(server.port, addressOffset="jbus", slaveId=9)
    await north.start()
    try:
        await north.handle_content(
            "modbus",
            content(
                {"address": "101", "value": 0x00020001, "modbusType": "register", "dataType": "uint32"},
                {"address": "103", "value": 0x1234, "modbusType": "register"},
            ),
        )
    finally:
        await north.stop()
    assert await server.get("holding-register", 100, 3) == [0x0001, 0x0002, 0x1234]
    assert {request.unit for request in server.requests} == {9}
    swapped = harness.north(server.port, swapBytesInWords=True, endianness="little-endian")
    await swapped.start()
    try:
        await swapped.handle_content("modbus", content({"address": "0", "value": 0x1234, "modbusType": "register"}))
    finally:
        await swapped.stop()
    assert await server.get("holding-register", 0) == [0x1234]


async def test_a_bad_content_is_refused_whole_naming_each_element(server: ModbusTestServer, harness: Harness) -> None:
    north = harness.north(server.port)
    await north.start()
    try:
        with pytest.raises(SendError) as refused:
            await north.handle_content(
                "modbus",
                content(
                    {"address": "1", "value": 7, "modbusType": "register"},
                    {"address": "x1", "value": 1, "modbusType": "register"},
                    {"address": "2", "value": 70000, "modbusType": "register"},
                    {"address": "3", "value": 1.5, "modbusType": "register", "dataType": "int32"},
                    {"address": "4", "value": 2, "modbusType": "coil"},
                    {"address": "5", "value": "high", "modbusType": "register"},
                    {"address": "65535", "value": 1, "modbusType": "register", "dataType": "float"},
                ),
            )
        message = str(refused.value)
        for expected in (
            "[1].address: expected a decimal or 0x-hexadecimal address",
            "[2].value: 70000 does not fit uint16",
            "[3].value: 1.5 is not an integer",
            "[4].value: a coil takes true/false or 1/0",
            "[5].value: expected a number",
            "[6].address: address 65535 with 2 register(s) goes past 65535",
        ):
            assert expected in message
        assert not refused.value.retry_forever
        with pytest.raises(SendError, match=r"\$\[0\]\.modbusType"):
            await north.handle_content("modbus", content({"address": "1", "value": 1, "modbusType": "input-register"}))
        with pytest.raises(SendError, match="not JSON"):
            await north.handle_content("modbus", b'[{"address": 1,')
        with pytest.raises(SendError, match="cannot be written"):
            await north.handle_content("mqtt", content())
    finally:
        await north.stop()
    # Nothing was written, not even the valid first element.
    assert [request for request in server.requests if request.function_code in (5, 6, 15, 16)] == []


async def test_a_write_the_server_refuses_fails_the_entry(server: ModbusTestServer, harness: Harness) -> None:
    north = harness.north(server.port)
    await north.start()
    try:
        with pytest.raises(
            SendError, match=r"\[1\] write of 1 holding register\(s\) at address 5000.*illegal data address"
        ):
            await north.handle_content(
                "modbus",
                content(
                    {"address": "1", "value": 7, "modbusType": "register"},
                    {"address": "5000", "value": 1, "modbusType": "register"},
                ),
            )
    finally:
        await north.stop()
    assert await server.get("holding-register", 1) == [7]


async def test_a_lost_server_keeps_the_entry_and_reports_the_loss(server: ModbusTestServer, harness: Harness) -> None:
    north = harness.north(server.port)
    await north.start()
    try:
        await server.stop()
        async with asyncio.timeout(5):
            while not harness.lost:  # noqa: ASYNC110 (the report comes from the transport's callback)
                await asyncio.sleep(0.01)
        with pytest.raises(SendError) as failed:
            await north.handle_content("modbus", content({"address": "1", "value": 7, "modbusType": "register"}))
        assert failed.value.retry_forever
    finally:
        await north.stop()
    assert len(harness.lost) >= 1 and "closed" in harness.lost[0]


async def test_start_and_connection_test_name_the_reason(server: ModbusTestServer, harness: Harness) -> None:
    await harness.north(server.port).test_connection()
    port = server.port
    await server.stop()
    with pytest.raises(ConnectorNotReady, match="connection refused"):
        await harness.north(port).test_connection()
    with pytest.raises(ConnectorNotReady, match="connection refused"):
        await harness.north(port).start()
