"""ADS South against pyads' test server describing its data types: enumerations, structures and arrays as upstream.

The server holds each symbol's bytes packed here from the same descriptions it answers with, and the values the
South hands over must be the ones held, named as upstream names them: a field ``<item>.<field>``, an element
``<item>.<position from 0>``.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import msgspec
from fakes import RecordingLogger, RecordingSink
from pyads import constants
from pyads.testserver import PLCVariable
from servers.ads import ADSIGRP_SYM_DT_INFOBYNAMEEX, ads_server, pack_datatype

from connectors.base import ConnectorContext, Item
from connectors.south.ads import AdsSouth
from connectors.south.ads.datatypes import FLAG_ENUM_INFOS, DataTypeEntry, parse_datatype
from connectors.south.ads.manifest import AdsItemSettings, AdsSettings

INT, DINT, REAL, LREAL, BOOL = (constants.ADST_INT16, constants.ADST_INT32, constants.ADST_REAL32,
                                constants.ADST_REAL64, constants.ADST_BIT)  # fmt: skip
BIG = constants.ADST_BIGTYPE
FORMATS = {"INT": "<h", "DINT": "<i", "REAL": "<f", "LREAL": "<d", "BOOL": "<?"}


def field(name: str, type_name: str, size: int, offset: int, ads_type: int) -> DataTypeEntry:
    return DataTypeEntry(name=name, type=type_name, size=size, ads_type=ads_type, offset=offset, flags=2)


E_MODE = DataTypeEntry(
    name="E_Mode",
    type="INT",
    size=2,
    ads_type=INT,
    flags=1 | FLAG_ENUM_INFOS,
    enum=(("Stopped", struct.pack("<h", 0)), ("Running", struct.pack("<h", 1)), ("Fault", struct.pack("<h", -1))),
)
ST_INNER = DataTypeEntry(
    name="ST_Inner",
    type="",
    size=16,
    ads_type=BIG,
    fields=(
        field("count", "DINT", 4, 0, DINT),
        field("ok", "BOOL", 1, 4, BOOL),
        field("note", "STRING(10)", 11, 5, constants.ADST_STRING),
    ),
)
HISTORY = DataTypeEntry(name="ARRAY [0..2] OF INT", type="INT", size=6, ads_type=INT, array=((0, 3),))
ST_MOTOR = DataTypeEntry(
    name="ST_Motor",
    type="",
    size=40,
    ads_type=BIG,
    fields=(
        field("speed", "REAL", 4, 0, REAL),
        field("mode", "E_Mode", 2, 4, INT),
        field("inner", "ST_Inner", 16, 8, BIG),
        field("history", "ARRAY [0..2] OF INT", 6, 24, INT),
        field("hidden", "LREAL", 8, 32, LREAL),
    ),
)
LEVELS = DataTypeEntry(name="ARRAY [1..3] OF REAL", type="REAL", size=12, ads_type=REAL, array=((1, 3),))
PAIRS = DataTypeEntry(name="ARRAY [0..1] OF ST_Inner", type="ST_Inner", size=32, ads_type=BIG, array=((0, 2),))
MODES = DataTypeEntry(name="ARRAY [0..1] OF E_Mode", type="E_Mode", size=4, ads_type=INT, array=((0, 2),))
GRID = DataTypeEntry(name="ARRAY [0..1,0..1] OF INT", type="INT", size=8, ads_type=INT, array=((0, 2), (0, 2)))
T_LEVEL = DataTypeEntry(name="T_Level", type="REAL", size=4, ads_type=REAL)
# A pointer names the type it points to, and holds an address: it is not an alias of that type.
POINTER = DataTypeEntry(name="POINTER TO INT", type="INT", size=8, ads_type=constants.ADST_UINT64)
DESCRIBED = {
    entry.name: entry for entry in (E_MODE, ST_INNER, HISTORY, ST_MOTOR, LEVELS, PAIRS, MODES, GRID, T_LEVEL, POINTER)
}


def pack(type_name: str, value: Any) -> bytes:
    """The bytes of ``value`` as the PLC lays out ``type_name``, from the descriptions the server answers with."""
    if isinstance(value, bytes):
        return value
    if type_name in FORMATS:
        return struct.pack(FORMATS[type_name], value)
    if type_name.startswith("STRING("):
        size = int(type_name[7:-1]) + 1
        return bytes(value.encode("cp1252").ljust(size, b"\0"))
    if type_name.startswith("ARRAY") and type_name not in DESCRIBED:
        element = type_name.split(" OF ")[1]
        return b"".join(pack(element, item) for item in value)
    entry = DESCRIBED[type_name]
    if entry.enum:
        return dict(entry.enum)[value]
    if entry.array:
        return b"".join(pack(entry.type, item) for item in value)
    if entry.fields:
        data = bytearray(entry.size)
        for item in entry.fields:
            raw = pack(item.type, value[item.name])
            data[item.offset : item.offset + len(raw)] = raw
        return bytes(data)
    return pack(entry.type, value)


INNER = {"count": -7, "ok": True, "note": "café"}
MOTOR = {"speed": 12.5, "mode": "Fault", "inner": INNER, "history": [3, -4, 5], "hidden": 1.5}
# symbol: (type name, value held)
HELD: dict[str, tuple[str, Any]] = {
    "MAIN.mode": ("E_Mode", "Running"),
    "MAIN.motor": ("ST_Motor", MOTOR),
    "MAIN.levels": ("ARRAY [1..3] OF REAL", [0.5, -1.25, 3.0]),
    "MAIN.pairs": ("ARRAY [0..1] OF ST_Inner", [INNER, {"count": 9, "ok": False, "note": "b"}]),
    "MAIN.modes": ("ARRAY [0..1] OF E_Mode", ["Stopped", "Fault"]),
    "MAIN.alias": ("T_Level", 2.25),
    # The PLC describes no such array type (as TwinCAT 2): its name says what it holds, as upstream reads it.
    "MAIN.legacy": ("ARRAY [0..1] OF DINT", [70000, -1]),
}
FILTERING = [{"name": "ST_Motor", "fields": "speed, mode,inner,history"}, {"name": "ST_Inner", "fields": "*"}]


def variables(held: dict[str, tuple[str, Any]]) -> list[PLCVariable]:
    ads = {"E_Mode": INT, "T_Level": REAL}
    return [PLCVariable(name, pack(kind, value), ads.get(kind, BIG), kind) for name, (kind, value) in held.items()]


def south(port: int, sink: RecordingSink, logger: RecordingLogger, tmp_path: Path, **settings: Any) -> AdsSouth:
    converted = msgspec.convert(
        {"netId": "127.0.0.1.1.1", "routerAddress": "127.0.0.1", "routerTcpPort": port, **settings}, AdsSettings
    )
    context = ConnectorContext(id="s1", name="plc", logger=logger, base_folder=tmp_path, data_folder=tmp_path)
    return AdsSouth(converted, context, sink, None)  # type: ignore[arg-type]  # lastPoint keeps no state.


def items(*addresses: str) -> list[Item[AdsItemSettings]]:
    return [
        Item(id=a, name=a.split(".")[1], enabled=True, settings=msgspec.convert({"address": a}, AdsItemSettings))
        for a in addresses
    ]


async def read(tmp_path: Path, held: dict[str, tuple[str, Any]], scans: int = 1, **settings: Any) -> Any:
    sink, logger = RecordingSink(), RecordingLogger()
    with ads_server(variables(held), list(DESCRIBED.values())) as (server, port):
        connector = south(port, sink, logger, tmp_path, **settings)
        await connector.start()
        try:
            for _ in range(scans):
                await connector.last_point(items(*held))
        finally:
            await connector.stop()
    values = {value["pointId"]: value["data"]["value"] for value in sink.values}
    described = [_described(request) for request in server.request_history]
    return values, logger, [name for name in described if name is not None]


def _described(request: Any) -> str | None:
    data = request.ams_header.data
    if struct.unpack("<H", request.ams_header.command_id)[0] != constants.ADSCOMMAND_READWRITE:
        return None
    group, _offset, _read, written = struct.unpack_from("<4I", data)
    return data[16 : 16 + written].decode().strip("\0") if group == ADSIGRP_SYM_DT_INFOBYNAMEEX else None


def test_a_description_reads_back_as_the_server_encodes_it() -> None:
    for entry in DESCRIBED.values():
        assert parse_datatype(pack_datatype(entry)) == entry


async def test_every_kind_equals_what_the_server_holds_flattened_as_upstream(tmp_path: Path) -> None:
    values, logger, described = await read(tmp_path, HELD, scans=2, structureFiltering=FILTERING)
    assert values == {
        "mode": "Running",
        # ST_Motor's filter leaves out its LREAL "hidden"; ST_Inner's "*" keeps every field.
        "motor.speed": "12.5",
        "motor.mode": "Fault",
        "motor.inner.count": "-7",
        "motor.inner.ok": "1",
        "motor.inner.note": "café",
        "motor.history.0": "3",
        "motor.history.1": "-4",
        "motor.history.2": "5",
        # Elements are numbered by position from 0, whatever the array's lower bound, as upstream numbers them.
        "levels.0": "0.5",
        "levels.1": "-1.25",
        "levels.2": "3",
        "pairs.0.count": "-7",
        "pairs.0.ok": "1",
        "pairs.0.note": "café",
        "pairs.1.count": "9",
        "pairs.1.ok": "0",
        "pairs.1.note": "b",
        "modes.0": "Stopped",
        "modes.1": "Fault",
        "alias": "2.25",
        "legacy.0": "70000",
        "legacy.1": "-1",
    }
    assert logger.events("warning") == []
    # Each type is described once per connection, across both scans; ST_Motor's unfiltered LREAL is never asked.
    assert sorted(described) == sorted(set(described))
    assert "LREAL" not in described


async def test_enumerations_as_integers_and_booleans_as_text(tmp_path: Path) -> None:
    held = {name: HELD[name] for name in ("MAIN.mode", "MAIN.modes", "MAIN.motor")}
    filtering = [{"name": "ST_Motor", "fields": "mode,inner"}, {"name": "ST_Inner", "fields": "ok"}]
    values, _logger, _ = await read(
        tmp_path, held, enumAsText="Integer", boolAsText="Text", structureFiltering=filtering
    )
    assert values == {"mode": "1", "modes.0": "0", "modes.1": "-1", "motor.mode": "-1", "motor.inner.ok": "true"}


async def test_a_nested_structure_not_filtered_gives_no_field(tmp_path: Path) -> None:
    # ST_Inner is not named: the motor's "inner" field gives nothing, as upstream; its other fields are read.
    filtering = [{"name": "ST_Motor", "fields": "*"}]
    values, logger, described = await read(tmp_path, {"MAIN.motor": HELD["MAIN.motor"]}, structureFiltering=filtering)
    assert values == {
        "motor.speed": "12.5",
        "motor.mode": "Fault",
        "motor.history.0": "3",
        "motor.history.1": "-4",
        "motor.history.2": "5",
        "motor.hidden": "1.5",
    }
    assert logger.events("warning") == []
    assert "ST_Motor" in described


async def test_structures_not_filtered_arrays_of_two_dimensions_and_pointers_are_skipped_with_one_warning(
    tmp_path: Path,
) -> None:
    held = {
        "MAIN.motor": HELD["MAIN.motor"],
        "MAIN.grid": ("ARRAY [0..1,0..1] OF INT", [1, 2, 3, 4]),
        "MAIN.pointer": ("POINTER TO INT", struct.pack("<Q", 0x10000)),
    }
    values, logger, _ = await read(tmp_path, held, scans=2)
    assert values == {}
    reasons = {fields["item"]: fields["reason"] for fields in logger.find("item not read")}
    assert len(logger.find("item not read")) == 3
    assert "neither a base type" in reasons["pointer"]
    assert "structureFiltering selects nothing" in reasons["motor"]
    assert "2 dimensions" in reasons["grid"]


async def test_a_symbol_shorter_than_its_type_is_skipped_and_the_others_read(tmp_path: Path) -> None:
    sink, logger = RecordingSink(), RecordingLogger()
    # The PLC says MAIN.short is an ST_Motor (40 bytes) but holds 8 of them: its inner structure lies beyond.
    held = [
        PLCVariable("MAIN.short", pack("ST_Motor", MOTOR)[:8], BIG, "ST_Motor"),
        *variables({"MAIN.mode": HELD["MAIN.mode"]}),
    ]
    with ads_server(held, list(DESCRIBED.values())) as (_server, port):
        connector = south(port, sink, logger, tmp_path, structureFiltering=FILTERING)
        await connector.start()
        try:
            await connector.last_point(items("MAIN.short", "MAIN.mode"))
        finally:
            await connector.stop()
    assert {value["pointId"]: value["data"]["value"] for value in sink.values} == {"mode": "Running"}
    [warning] = logger.find("item not read")
    assert warning["item"] == "short"
    assert "do not fit its type ST_Motor" in warning["reason"]


async def test_descriptions_are_asked_again_on_a_new_connection(tmp_path: Path) -> None:
    sink, logger = RecordingSink(), RecordingLogger()
    held = {"MAIN.mode": HELD["MAIN.mode"]}
    with ads_server(variables(held), list(DESCRIBED.values())) as (server, port):
        connector = south(port, sink, logger, tmp_path)
        for _ in range(2):
            # The PLC may have been loaded with another program meanwhile: what it said before is not kept.
            await connector.start()
            try:
                await connector.last_point(items("MAIN.mode"))
                await connector.last_point(items("MAIN.mode"))
            finally:
                await connector.stop()
    described = [name for name in map(_described, server.request_history) if name is not None]
    assert described == ["E_Mode", "E_Mode"]
    assert [value["data"]["value"] for value in sink.values] == ["Running"] * 4
