"""ADS South against pyads' in-process ADS test server: every scalar type it serves, batched, as upstream writes."""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from fakes import RecordingLogger, RecordingSink
from pyads import constants
from pyads.testserver import PLCVariable
from servers.ads import ads_server

from connectors import registry
from connectors.base import ConnectorContext, Item
from connectors.south.ads import MANIFEST, AdsSouth
from connectors.south.ads.manifest import AdsItemSettings, AdsSettings

DATE = int(datetime(2024, 3, 1, 12, 30, tzinfo=UTC).timestamp())
# (symbol, value held, ADS type, PLC type, value expected)
SYMBOLS: list[tuple[str, Any, int, str, str]] = [
    ("MAIN.flag", True, constants.ADST_BIT, "BOOL", "1"),
    ("MAIN.off", False, constants.ADST_BIT, "BOOL", "0"),
    ("MAIN.byte", 200, constants.ADST_UINT8, "BYTE", "200"),
    ("MAIN.word", 65000, constants.ADST_UINT16, "WORD", "65000"),
    ("MAIN.dword", 4_000_000_000, constants.ADST_UINT32, "DWORD", "4000000000"),
    ("MAIN.sint", -5, constants.ADST_INT8, "SINT", "-5"),
    ("MAIN.usint", 250, constants.ADST_UINT8, "USINT", "250"),
    ("MAIN.int", -1234, constants.ADST_INT16, "INT", "-1234"),
    ("MAIN.uint", 60000, constants.ADST_UINT16, "UINT", "60000"),
    ("MAIN.dint", -123456789, constants.ADST_INT32, "DINT", "-123456789"),
    ("MAIN.udint", 3_000_000_000, constants.ADST_UINT32, "UDINT", "3000000000"),
    ("MAIN.lint", -(2**62), constants.ADST_INT64, "LINT", str(-(2**62))),
    ("MAIN.ulint", 2**63 + 5, constants.ADST_UINT64, "ULINT", str(2**63 + 5)),
    ("MAIN.real", 3.5, constants.ADST_REAL32, "REAL", "3.5"),
    ("MAIN.lreal", -1234.5678, constants.ADST_REAL64, "LREAL", "-1234.5678"),
    ("MAIN.text", b"hello" + bytes(76), constants.ADST_STRING, "STRING(80)", "hello"),
    ("MAIN.time", 90_000, constants.ADST_UINT32, "TIME", "90000"),
    ("MAIN.date", struct.pack("<I", DATE), constants.ADST_UINT32, "DATE", "2024-03-01T12:30:00.000Z"),
]


def south(port: int, sink: RecordingSink, logger: RecordingLogger, tmp_path: Path, **settings: Any) -> AdsSouth:
    converted = msgspec.convert(
        {"netId": "127.0.0.1.1.1", "routerAddress": "127.0.0.1", "routerTcpPort": port, **settings}, AdsSettings
    )
    context = ConnectorContext(id="s1", name="plc", logger=logger, base_folder=tmp_path, data_folder=tmp_path)
    return AdsSouth(converted, context, sink, None)  # type: ignore[arg-type]  # lastPoint keeps no state.


def item(name: str, address: str) -> Item[AdsItemSettings]:
    return Item(id=name, name=name, enabled=True, settings=msgspec.convert({"address": address}, AdsItemSettings))


def test_registered_with_its_manifest() -> None:
    assert registry.manifest("south", "ads") is MANIFEST
    assert registry.connector_class("south", "ads") is AdsSouth


async def test_every_type_reads_what_the_server_holds_in_one_sum_read(tmp_path: Path) -> None:
    variables = [PLCVariable(name, value, ads, plc) for name, value, ads, plc, _ in SYMBOLS]
    sink, logger = RecordingSink(), RecordingLogger()
    with ads_server(variables) as (server, port):
        connector = south(port, sink, logger, tmp_path, plcName="plc1.")
        await connector.start()
        try:
            await connector.last_point([item(name.split(".")[1], name) for name, *_ in SYMBOLS])
            before = len(server.request_history)
            await connector.last_point([item(name.split(".")[1], name) for name, *_ in SYMBOLS])
            requests = len(server.request_history) - before
        finally:
            await connector.stop()
    expected = {f"plc1.{name.split('.')[1]}": value for name, *_, value in SYMBOLS}
    assert {value["pointId"]: value["data"]["value"] for value in sink.values} == expected
    assert len(sink.value_items) == 2
    # Symbol information is asked once; each later scan is one sum read for the 18 symbols.
    assert requests == 1
    assert logger.events("warning") == []


async def test_booleans_as_text(tmp_path: Path) -> None:
    sink, logger = RecordingSink(), RecordingLogger()
    variables = [PLCVariable("MAIN.on", True, constants.ADST_BIT, "BOOL")]
    with ads_server(variables) as (_server, port):
        connector = south(port, sink, logger, tmp_path, boolAsText="Text")
        await connector.start()
        try:
            await connector.last_point([item("on", "MAIN.on")])
        finally:
            await connector.stop()
    assert [value["data"]["value"] for value in sink.values] == ["true"]


async def test_a_symbol_the_plc_does_not_know_is_warned_once_and_read_once_it_exists(tmp_path: Path) -> None:
    sink, logger = RecordingSink(), RecordingLogger()
    variables = [PLCVariable("MAIN.on", True, constants.ADST_BIT, "BOOL")]
    with ads_server(variables) as (server, port):
        connector = south(port, sink, logger, tmp_path)
        await connector.start()
        try:
            scan = [item("on", "MAIN.on"), item("later", "MAIN.later")]
            await connector.last_point(scan)
            await connector.last_point(scan)
            # The PLC is loaded with a program that has the symbol (the PLC answered 0x710 until now).
            server.handler.add_variable(PLCVariable("MAIN.later", 5, constants.ADST_INT16, "INT"))
            await connector.last_point(scan)
        finally:
            await connector.stop()
    assert [value["pointId"] for value in sink.values] == ["on", "on", "on", "later"]
    assert sink.values[-1]["data"]["value"] == "5"
    [warning] = logger.find("item not read")
    assert warning["item"] == "later"
    assert "MAIN.later" in warning["reason"]
    assert [fields["item"] for fields in logger.find("item read again")] == ["later"]
