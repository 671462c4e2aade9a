"""S7 South against a real in-process python-snap7 server on loopback: every data type, batching, refusals."""

from __future__ import annotations

import contextlib
import struct
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from engine_process import closed_port
from fakes import RecordingLogger, RecordingSink
from servers.s7 import S7TestServer, s7_server

from connectors import registry
from connectors.base import ConnectorContext, Item
from connectors.errors import ConnectorConnectionError, ConnectorError, ConnectorNotReady
from connectors.south.s7 import MANIFEST, S7South
from connectors.south.s7.manifest import S7ItemSettings, S7Settings
from engine.cache.south import SouthCacheDB

NOW = datetime.now(UTC)

# (item name, address, area, data block, byte offset, bytes the server holds, value expected)
LAYOUT: list[tuple[str, str, str, int, int, bytes, str]] = [
    ("bit0", "DB1,X0.0", "DB", 1, 0, bytes([0b0000_0101]), "true"),
    ("bit1", "DB1,BOOL0.1", "DB", 1, 0, bytes([0b0000_0101]), "false"),
    ("bit2", "DB1,X0.2", "DB", 1, 0, bytes([0b0000_0101]), "true"),
    ("byte", "DB1,B1", "DB", 1, 1, bytes([0xAB]), "171"),
    ("char", "DB1,CHAR2", "DB", 1, 2, b"Z", "Z"),
    ("sint", "DB1,SINT3", "DB", 1, 3, struct.pack(">b", -5), "-5"),
    ("word", "DB1,WORD4", "DB", 1, 4, struct.pack(">H", 0xBEEF), "48879"),
    ("int", "DB1,INT6", "DB", 1, 6, struct.pack(">h", -1234), "-1234"),
    ("dword", "DB1,DW8", "DB", 1, 8, struct.pack(">I", 0xDEADBEEF), "3735928559"),
    ("dint", "DB1,DINT12", "DB", 1, 12, struct.pack(">i", -123456789), "-123456789"),
    ("real", "DB1,REAL16", "DB", 1, 16, struct.pack(">f", 3.5), "3.5"),
    # A REAL is 32 bits: 0.1 reads back as the nearest float32, written as upstream writes a JS number.
    ("real tenth", "DB1,R20", "DB", 1, 20, struct.pack(">f", 0.1), "0.10000000149011612"),
    ("lreal", "DB1,LREAL24", "DB", 1, 24, struct.pack(">d", -1234.5678), "-1234.5678"),
    ("string", "DB1,S32.10", "DB", 1, 32, bytes([10, 5]) + b"hello" + bytes(5), "hello"),
    ("usint", "DB1,USINT44", "DB", 1, 44, bytes([200]), "200"),
    ("uint", "DB1,UINT46", "DB", 1, 46, struct.pack(">H", 65000), "65000"),
    ("udint", "DB1,UDINT48", "DB", 1, 48, struct.pack(">I", 4_000_000_000), "4000000000"),
    ("lint", "DB1,LINT52", "DB", 1, 52, struct.pack(">q", -(2**62)), str(-(2**62))),
    ("ulint", "DB1,ULINT60", "DB", 1, 60, struct.pack(">Q", 2**64 - 1), str(2**64 - 1)),
    ("lword", "DB1,LWORD68", "DB", 1, 68, struct.pack(">Q", 0x0102030405060708), str(0x0102030405060708)),
    ("real whole", "DB1,REAL76", "DB", 1, 76, struct.pack(">f", 2.0), "2"),
    ("other db", "db2,int0", "DB", 2, 0, struct.pack(">h", 77), "77"),
    ("memory bit", "M0.1", "M", 0, 0, bytes([0b10]), "true"),
    ("memory word", "MW2", "M", 0, 2, struct.pack(">H", 513), "513"),
    ("memory real", "MREAL4", "M", 0, 4, struct.pack(">f", -0.5), "-0.5"),
    ("input bit", "I0.0", "I", 0, 0, bytes([1]), "true"),
    ("input word (German)", "EW2", "I", 0, 2, struct.pack(">H", 42), "42"),
    ("output bit", "Q0.7", "Q", 0, 0, bytes([0x80]), "true"),
    ("output dword (German)", "AD4", "Q", 0, 4, struct.pack(">I", 99), "99"),
]


@pytest.fixture
async def server() -> AsyncIterator[S7TestServer]:
    async with s7_server() as started:
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

    def south(self, port: int, **settings: Any) -> S7South:
        converted = msgspec.convert({"host": "127.0.0.1", "port": port, **settings}, S7Settings)
        context = ConnectorContext(
            id="s1", name="plc", logger=self.logger, base_folder=self.tmp_path, data_folder=self.tmp_path
        )
        return S7South(converted, context, self.sink, self.cache)

    @staticmethod
    def item(name: str, address: str) -> Item[S7ItemSettings]:
        settings = msgspec.convert({"address": address}, S7ItemSettings)
        return Item(id=f"id-{name}", name=name, enabled=True, settings=settings)

    def read(self) -> dict[str, str]:
        """The last value handed over per point."""
        return {value["pointId"]: value["data"]["value"] for value in self.sink.values}


@pytest.fixture
def harness(tmp_path: Path, cache_db: SouthCacheDB) -> Harness:
    return Harness(tmp_path, cache_db)


@contextlib.asynccontextmanager
async def started(south: S7South) -> AsyncIterator[S7South]:
    await south.start()
    try:
        yield south
    finally:
        await south.stop()


def test_registered_with_its_manifest() -> None:
    assert registry.manifest("south", "s7") is MANIFEST
    assert registry.connector_class("south", "s7") is S7South
    assert MANIFEST.modes.last_point and not (MANIFEST.modes.history or MANIFEST.modes.subscription)


async def test_every_data_type_reads_what_the_server_holds_in_one_read_per_area(
    server: S7TestServer, harness: Harness
) -> None:
    for _name, _address, area, number, offset, data, _expected in LAYOUT:
        server.write(area, number, offset, data)
    items = [harness.item(name, address) for name, address, *_ in LAYOUT]
    async with started(harness.south(server.port)) as south:
        before = server.read_count()
        await south.last_point(items)
        reads = server.read_count() - before
    assert harness.read() == {name: expected for name, *_, expected in LAYOUT}
    assert all(value["timestamp"].endswith("Z") for value in harness.sink.values)
    # DB1, DB2, M, I and Q: one read each for 29 items.
    assert reads == 5
    # One hand-over for the scan, naming every item it comes from.
    (produced,) = harness.sink.value_items
    assert sorted(produced or []) == sorted(item.id for item in items)


async def test_a_value_changed_on_the_server_is_read_at_the_next_scan(server: S7TestServer, harness: Harness) -> None:
    item = harness.item("level", "DB1,REAL0")
    async with started(harness.south(server.port)) as south:
        server.write("DB", 1, 0, struct.pack(">f", 1.25))
        await south.last_point([item])
        server.write("DB", 1, 0, struct.pack(">f", -7.75))
        await south.last_point([item])
    assert [value["data"]["value"] for value in harness.sink.values] == ["1.25", "-7.75"]


async def test_a_refused_address_is_logged_once_and_does_not_hide_the_others(
    server: S7TestServer, harness: Harness
) -> None:
    server.write("DB", 2, 50, struct.pack(">h", 5))
    items = [
        harness.item("missing db", "DB9,INT0"),
        # DB2 holds 64 bytes: a DINT at 62 ends past it, and is grouped with its neighbour at 50.
        harness.item("neighbour", "DB2,INT50"),
        harness.item("past the end", "DB2,DINT62"),
        harness.item("fine", "DB1,INT0"),
    ]
    async with started(harness.south(server.port)) as south:
        await south.last_point(items)
        await south.last_point(items)
    assert [value["pointId"] for value in harness.sink.values] == ["fine", "neighbour"] * 2
    assert harness.read()["neighbour"] == "5"
    warned = harness.logger.find("item not read")
    assert sorted(fields["item"] for fields in warned) == ["missing db", "past the end"]
    assert "DB9" in next(fields["reason"] for fields in warned if fields["item"] == "missing db")
    assert harness.logger.events().count("grouped read refused, reading its items one by one") == 1


async def test_an_address_read_again_is_logged_once(server: S7TestServer, harness: Harness) -> None:
    item = harness.item("late", "DB2,DINT62")
    async with started(harness.south(server.port)) as south:
        await south.last_point([item])
        server.areas[("DB", 2)].extend(bytes(8))  # The data block grows (a new download to the PLC).
        await south.last_point([item])
        await south.last_point([item])
    assert [value["data"]["value"] for value in harness.sink.values] == ["0", "0"]
    assert harness.logger.events().count("item read again") == 1


async def test_item_test_raises_the_refusal(server: S7TestServer, harness: Harness) -> None:
    south = harness.south(server.port)
    with pytest.raises(ConnectorError, match="DB9"):
        await south.test_item(harness.item("x", "DB9,INT0"), NOW, NOW)
    await south.test_item(harness.item("y", "DB1,INT0"), NOW, NOW)
    assert harness.read() == {"y": "0"}


async def test_connection_failures_say_why(server: S7TestServer, harness: Harness) -> None:
    await harness.south(server.port).test_connection()
    with closed_port() as port, pytest.raises(ConnectorNotReady, match=f"connection refused by 127.0.0.1:{port}"):
        await harness.south(port).start()
    with pytest.raises(ConnectorNotReady, match="not found"):
        await harness.south(102, host="no-such-host.invalid").test_connection()
    with pytest.raises(ConnectorConnectionError, match="not connected"):
        await harness.south(server.port).last_point([harness.item("x", "DB1,INT0")])


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("DB1,REAL", "is not an S7 address"),
        ("DB0,INT0", "data block numbers start at 1"),
        ("DB1,X4", "needs its bit"),
        ("DB1,X4.8", "bit 8 is out of 0-7"),
        ("DB1,FOO4", "unknown data type 'FOO'"),
        ("DB1,INT4.2", "only bit (X) and string (S) addresses"),
        ("DB1,S0.300", "a string length is 1-254"),
        ("Z0.0", "is not an S7 address"),
    ],
)
def test_a_bad_address_is_refused_with_the_field_and_the_problem(address: str, problem: str) -> None:
    with pytest.raises(msgspec.ValidationError) as raised:
        msgspec.convert({"address": address}, S7ItemSettings)
    assert "address" in str(raised.value) and problem in str(raised.value)


def test_settings_keep_upstream_defaults_and_bounds() -> None:
    settings = msgspec.convert({}, S7Settings)
    assert (settings.host, settings.port, settings.connection_type, settings.rack, settings.slot) == (
        "127.0.0.1",
        102,
        "PG",
        0,
        1,
    )
    assert (settings.connect_timeout, settings.request_timeout, settings.retry_interval) == (10000, 15000, 10000)
    with pytest.raises(msgspec.ValidationError, match="connectionType"):
        msgspec.convert({"connectionType": "HMI"}, S7Settings)
