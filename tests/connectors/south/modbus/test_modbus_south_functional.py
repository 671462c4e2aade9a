"""Modbus South against a real in-process pymodbus TCP server on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from engine_process import closed_port
from fakes import RecordingLogger, RecordingSink, reporting_context
from servers.modbus import ModbusTestServer, modbus_server

from connectors import registry
from connectors.base import ConnectorContext, Item
from connectors.errors import ConnectorConnectionError, ConnectorError, ConnectorNotReady
from connectors.south.modbus import MANIFEST, ModbusSouth
from connectors.south.modbus.manifest import ModbusItemSettings, ModbusSettings
from engine.cache.south import SouthCacheDB

NOW = datetime.now(UTC)


def regs(data: bytes) -> list[int]:
    return list(struct.unpack(f">{len(data) // 2}H", data))


@pytest.fixture
async def server() -> AsyncIterator[ModbusTestServer]:
    async with modbus_server() as started:
        yield started


@pytest.fixture
def cache_db(tmp_path: Path) -> Iterator[SouthCacheDB]:
    db = SouthCacheDB(tmp_path / "cache.db")
    yield db
    db.close()


class Harness:
    """Builds connectors and items as the runner does (``msgspec.convert`` of the wire settings)."""

    def __init__(self, tmp_path: Path, cache_db: SouthCacheDB) -> None:
        self.tmp_path = tmp_path
        self.cache = cache_db.for_south("s1")
        self.sink = RecordingSink()
        self.logger = RecordingLogger()
        self.lost: list[str] = []

    def south(self, port: int, **settings: Any) -> ModbusSouth:
        converted = msgspec.convert({"host": "127.0.0.1", "port": port, **settings}, ModbusSettings)
        context = reporting_context(
            "s1", "plc", self.logger, data_folder=self.tmp_path, base_folder=self.tmp_path, lost=self.lost
        )
        return ModbusSouth(converted, context, self.sink, self.cache)

    @staticmethod
    def item(name: str, address: str, modbus_type: str = "holding-register", **data: Any) -> Item[ModbusItemSettings]:
        raw: dict[str, Any] = {"address": address, "modbusType": modbus_type}
        if data:
            raw["data"] = data
        return Item(id=f"id-{name}", name=name, enabled=True, settings=msgspec.convert(raw, ModbusItemSettings))

    def read(self) -> dict[str, str]:
        """The last value handed over per point."""
        return {value["pointId"]: value["data"]["value"] for value in self.sink.values}


@pytest.fixture
def harness(tmp_path: Path, cache_db: SouthCacheDB) -> Harness:
    return Harness(tmp_path, cache_db)


@contextlib.asynccontextmanager
async def started(south: ModbusSouth) -> AsyncIterator[ModbusSouth]:
    await south.start()
    try:
        yield south
    finally:
        await south.stop()


def test_registered_with_its_manifest() -> None:
    assert registry.manifest("south", "modbus") is MANIFEST
    assert registry.connector_class("south", "modbus") is ModbusSouth
    assert MANIFEST.modes.last_point and not (MANIFEST.modes.history or MANIFEST.modes.subscription)


FLOAT_35 = regs(struct.pack(">f", 3.5))
DOUBLE = regs(struct.pack(">d", -1234.5678))
STANDARD = {"swapWordsInDWords": True}
LAYOUTS: list[tuple[str, dict[str, Any], dict[str, Any], list[int], str]] = [
    ("uint16", {}, {"dataType": "uint16"}, [65535], "65535"),
    ("int16", {}, {"dataType": "int16"}, [0xFFFE], "-2"),
    ("uint32 upstream default (low word first)", {}, {"dataType": "uint32"}, [1, 2], str(0x00020001)),
    ("uint32 high word first", STANDARD, {"dataType": "uint32"}, [1, 2], str(0x00010002)),
    ("int32", STANDARD, {"dataType": "int32"}, [0xFFFF, 0xFFFE], "-2"),
    ("float", STANDARD, {"dataType": "float"}, FLOAT_35, "3.5"),
    ("float upstream default", {}, {"dataType": "float"}, FLOAT_35[::-1], "3.5"),
    ("big-uint64", STANDARD, {"dataType": "big-uint64"}, [0xFFFF] * 4, str(2**64 - 1)),
    ("big-int64", STANDARD, {"dataType": "big-int64"}, [0xFFFF, 0xFFFF, 0xFFFF, 0xFFFE], "-2"),
    ("big-uint64 upstream default", {}, {"dataType": "big-uint64"}, [1, 2, 3, 4], str(0x0002_0001_0004_0003)),
    ("double", STANDARD, {"dataType": "double"}, DOUBLE, "-1234.5678"),
    ("bit set", {}, {"dataType": "bit", "bitIndex": 2}, [0b0100], "1"),
    ("bit clear", {}, {"dataType": "bit", "bitIndex": 1}, [0b0100], "0"),
    ("bit default index", {}, {"dataType": "bit"}, [0b0001], "1"),
    ("swapBytesInWords", {"swapBytesInWords": True}, {"dataType": "uint16"}, [0x1234], str(0x3412)),
    ("little-endian", {"endianness": "little-endian"}, {"dataType": "uint16"}, [0x1234], str(0x3412)),
    (
        "little-endian uint32",
        {"endianness": "little-endian", "swapWordsInDWords": True},
        {"dataType": "uint32"},
        [1, 2],
        str(0x02000100),
    ),
    (
        "little-endian swapped bytes float",
        {"endianness": "little-endian", "swapBytesInWords": True},
        {"dataType": "float"},
        FLOAT_35,
        "3.5",
    ),
    ("multiplier", {}, {"dataType": "uint16", "multiplierCoefficient": 0.1}, [1234], "123.4"),
    ("multiplier on a signed value", {}, {"dataType": "int16", "multiplierCoefficient": 0.5}, [0xFFFE], "-1"),
    ("no data: uint16", {}, {}, [42], "42"),
]


@pytest.mark.parametrize(
    ("settings", "data", "registers", "expected"),
    [case[1:] for case in LAYOUTS],
    ids=[case[0] for case in LAYOUTS],
)
async def test_every_data_type_and_byte_order_is_decoded(
    server: ModbusTestServer,
    harness: Harness,
    settings: dict[str, Any],
    data: dict[str, Any],
    registers: list[int],
    expected: str,
) -> None:
    await server.set("holding-register", 100, registers)
    async with started(harness.south(server.port, **settings)) as south:
        await south.last_point([harness.item("value", "100", **data)])
    assert harness.read() == {"value": expected}
    (value,) = harness.sink.values
    assert datetime.fromisoformat(value["timestamp"]) >= NOW.replace(microsecond=0)
    assert harness.sink.value_items == [["id-value"]]


async def test_every_table_is_read(server: ModbusTestServer, harness: Harness) -> None:
    await server.set("coil", 5, [True, False])
    await server.set("discrete-input", 7, [False, True])
    await server.set("input-register", 5, [111])
    await server.set("holding-register", 5, [222])
    items = [
        harness.item("coil on", "5", "coil"),
        harness.item("coil off", "6", "coil"),
        harness.item("input off", "7", "discrete-input"),
        harness.item("input on", "8", "discrete-input"),
        harness.item("input register", "5", "input-register", dataType="uint16"),
        harness.item("holding register", "5", "holding-register", dataType="uint16"),
    ]
    async with started(harness.south(server.port)) as south:
        await south.last_point(items)
    assert harness.read() == {
        "coil on": "1",
        "coil off": "0",
        "input off": "0",
        "input on": "1",
        "input register": "111",
        "holding register": "222",
    }
    assert sorted(request.function_code for request in server.requests) == [1, 2, 3, 4]


async def test_jbus_offset_hex_addresses_and_slave_id_reach_the_wire(
    server: ModbusTestServer, harness: Harness
) -> None:
    await server.set("holding-register", 16, [7])
    async with started(harness.south(server.port, addressOffset="jbus", slaveId=7)) as south:
        await south.last_point([harness.item("hex", "0x11")])
    assert harness.read() == {"hex": "7"}
    assert [(request.unit, request.address) for request in server.requests] == [(7, 16)]


async def test_neighbouring_items_share_requests_split_at_the_protocol_limit(
    server: ModbusTestServer, harness: Harness
) -> None:
    await server.set("holding-register", 0, list(range(1000, 1130)))
    items = [harness.item(f"r{index}", str(index)) for index in range(130)]
    async with started(harness.south(server.port)) as south:
        await south.last_point(items)
        assert [(request.address, request.count) for request in server.requests] == [(0, 125), (125, 5)]
        server.requests.clear()
        async with started(harness.south(server.port, batchQuery=False)) as unbatched:
            await unbatched.last_point(items[:3])
    assert harness.read() == {f"r{index}": str(1000 + index) for index in range(130)}
    assert len(server.requests) == 3


async def test_grouping_gap_reads_across_unused_addresses(server: ModbusTestServer, harness: Harness) -> None:
    await server.set("holding-register", 10, [1, 0, 0, 4])
    items = [harness.item("a", "10"), harness.item("b", "13")]
    async with started(harness.south(server.port, groupingGap=2)) as south:
        await south.last_point(items)
    assert harness.read() == {"a": "1", "b": "4"}
    assert [(request.address, request.count) for request in server.requests] == [(10, 4)]


async def test_a_refused_item_is_logged_once_and_its_neighbours_are_still_read(
    server: ModbusTestServer, harness: Harness
) -> None:
    await server.set("holding-register", 10, [1, 2, 3])
    items = [harness.item("a", "10"), harness.item("busy", "11"), harness.item("c", "12")]
    server.busy.add(11)
    async with started(harness.south(server.port)) as south:
        await south.last_point(items)
        assert harness.read() == {"a": "1", "c": "3"}
        server.requests.clear()
        await south.last_point(items)
        # From then on the items of the refused batch are read alone.
        assert len(server.requests) == 3
        warnings = harness.logger.events("warning")
        assert warnings.count("item not read") == 1
        assert warnings.count("batch refused, reading its items one by one") == 1
        (record,) = [fields for level, event, fields in harness.logger.records if event == "item not read"]
        assert record["item"] == "busy" and "device busy" in record["reason"]
        server.busy.clear()
        harness.sink.values.clear()
        await south.last_point(items)
        await south.last_point(items)
    assert harness.read() == {"a": "1", "busy": "2", "c": "3"}
    assert harness.logger.events("info").count("item read again") == 1
    assert harness.logger.events("warning").count("item not read") == 1


async def test_an_address_outside_the_range_is_skipped_with_one_warning(
    server: ModbusTestServer, harness: Harness
) -> None:
    await server.set("holding-register", 0, [5])
    items = [harness.item("zero in jbus", "0"), harness.item("first", "1")]
    async with started(harness.south(server.port, addressOffset="jbus")) as south:
        await south.last_point(items)
        await south.last_point(items)
    assert harness.read() == {"first": "5"}
    records = [fields for _, event, fields in harness.logger.records if event == "item not read"]
    assert len(records) == 1
    assert "jbus addresses start at 1" in records[0]["reason"]


async def test_item_test_answers_the_value_or_raises_the_reason(server: ModbusTestServer, harness: Harness) -> None:
    await server.set("holding-register", 3, [9])
    south = harness.south(server.port)
    await south.test_item(harness.item("good", "3"), NOW, NOW)
    assert harness.read() == {"good": "9"}
    server.busy.add(3)
    with pytest.raises(ConnectorError, match="device busy"):
        await south.test_item(harness.item("good", "3"), NOW, NOW)
    with pytest.raises(ConnectorError, match="illegal data address"):
        await south.test_item(harness.item("beyond the table", "5000"), NOW, NOW)
    with pytest.raises(ConnectorError, match="goes past 65535"):
        await south.test_item(harness.item("too far", "65535", dataType="uint32"), NOW, NOW)


@contextlib.contextmanager
def saturated_listener() -> Iterator[int]:
    """A port whose accept queue is full: a new connection gets no answer (a host that drops packets)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port: int = listener.getsockname()[1]
        queued = socket.create_connection(("127.0.0.1", port), timeout=1)
        try:
            yield port
        finally:
            queued.close()


async def test_connection_test_names_the_reason(server: ModbusTestServer, harness: Harness) -> None:
    await harness.south(server.port).test_connection()
    with closed_port() as port, pytest.raises(ConnectorNotReady, match="connection refused"):
        await harness.south(port).test_connection()
    converted = msgspec.convert({"host": "no-such-host.invalid"}, ModbusSettings)
    context = ConnectorContext(
        id="s1", name="plc", logger=harness.logger, base_folder=harness.tmp_path, data_folder=harness.tmp_path
    )
    with pytest.raises(ConnectorNotReady, match="not found"):
        await ModbusSouth(converted, context, harness.sink, harness.cache).test_connection()
    with saturated_listener() as port, pytest.raises(ConnectorNotReady, match=r"connectTimeout \(200 ms\)"):
        await harness.south(port, connectTimeout=200).test_connection()


async def test_start_fails_with_the_reason_when_the_server_is_down(harness: Harness) -> None:
    with closed_port() as port, pytest.raises(ConnectorNotReady, match="connection refused"):
        await harness.south(port).start()
    with saturated_listener() as port, pytest.raises(ConnectorNotReady, match="connectTimeout"):
        await harness.south(port, connectTimeout=200).start()


async def test_a_server_that_stops_answering_is_a_lost_connection(harness: Harness) -> None:
    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # Accept requests and never answer them.
        writer.close()

    listener = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        async with started(harness.south(port, networkTimeout=200)) as south:
            with pytest.raises(ConnectorConnectionError, match=r"networkTimeout \(200 ms\)"):
                await south.last_point([harness.item("value", "1")])
    finally:
        listener.close()
        await listener.wait_closed()
    assert harness.sink.values == []


async def test_a_server_closing_the_session_is_reported_once(server: ModbusTestServer, harness: Harness) -> None:
    south = harness.south(server.port)
    await south.start()
    try:
        await server.stop()
        async with asyncio.timeout(5):
            while not harness.lost:  # noqa: ASYNC110 (the report comes from the transport's callback)
                await asyncio.sleep(0.01)
        with pytest.raises(ConnectorConnectionError):
            await south.last_point([harness.item("value", "1")])
    finally:
        await south.stop()
    assert len(harness.lost) == 1 and "closed" in harness.lost[0]
