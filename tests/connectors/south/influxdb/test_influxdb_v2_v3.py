"""InfluxDB South v2 (Flux) and v3 (SQL) against a fake of the documented HTTP APIs (no server runs here)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from fakes import RecordingLogger, RecordingSink
from servers.influxdb import InfluxHttpFake

from connectors.base import ConnectorContext, Item
from connectors.errors import ConnectorError
from connectors.south.influxdb import InfluxdbSouth
from connectors.south.influxdb.client import AnnotatedCsv, parse_annotated_csv, text_pieces
from connectors.south.influxdb.manifest import InfluxdbItemSettings, InfluxdbSettings
from engine.cache.south import SouthCacheDB
from engine.history.windowing import history_intervals, run_history

BASE = datetime(2024, 3, 1, tzinfo=UTC)
TOKEN = "secret-token-123"
FLUX = 'from(bucket: "plant") |> range(start: @StartTime, stop: @EndTime) |> filter(fn: (r) => r._field == "temp")'
SQL = "SELECT time, value, site FROM temp WHERE time > '@StartTime' AND time <= '@EndTime' ORDER BY time"


@pytest.fixture
async def fake() -> AsyncIterator[InfluxHttpFake]:
    async with InfluxHttpFake(TOKEN, "plant-org", BASE, step_s=10, points=720) as running:
        yield running


def south(settings: InfluxdbSettings, tmp_path: Path) -> tuple[InfluxdbSouth, RecordingSink, SouthCacheDB]:
    sink = RecordingSink()
    db = SouthCacheDB(tmp_path / "cache.db")
    context = ConnectorContext(
        id="influx", name="influx", logger=RecordingLogger(), base_folder=tmp_path, data_folder=tmp_path
    )
    return InfluxdbSouth(settings, context, sink, db.for_south("influx")), sink, db


def an_item(query: str) -> Item[InfluxdbItemSettings]:
    return Item(id="i1", name="temp", enabled=True, settings=msgspec.convert({"query": query}, InfluxdbItemSettings))


async def read_windows(
    connector: InfluxdbSouth, the_item: Item[InfluxdbItemSettings], window_s: int
) -> datetime | None:
    cache = connector.cache
    intervals = history_intervals(BASE, BASE + timedelta(hours=2), tracked_instant=None, max_read_interval_s=window_s)
    return await run_history(
        lambda s, e: connector.history_query([the_item], s, e),
        intervals,
        0,
        lambda instant: cache.set_tracked_instant(the_item.id, instant),
        "oldest",
        tracked_instant=None,
    )


def v2(fake: InfluxHttpFake, token: str = TOKEN) -> InfluxdbSettings:
    return InfluxdbSettings(version="2", url=fake.url, token=token, organisation="plant-org", bucket="plant")


def v3(fake: InfluxHttpFake, token: str = TOKEN) -> InfluxdbSettings:
    return InfluxdbSettings(version="3", url=fake.url, token=token, database="plant")


async def test_v2_flux_rows_are_typed_and_windows_track_the_last_time(fake: InfluxHttpFake, tmp_path: Path) -> None:
    connector, sink, db = south(v2(fake), tmp_path)
    try:
        newest = await read_windows(connector, an_item(FLUX), 1800)
        rows = [row for content in sink.contents for row in json.loads(content)]
        assert len(sink.contents) == 4 and len(rows) == 719  # Points after BASE, every 10 s for 2 h.
        assert rows[0] == {
            "result": "_result",
            "table": 0,
            "_time": "2024-03-01T00:00:10Z",
            "_value": 0.0,
            "_field": "temp",
            "ok": True,
        }
        assert newest == BASE + timedelta(seconds=7190)
        assert fake.queries[0].startswith('from(bucket: "plant") |> range(start: 2024-03-01T00:00:00.000Z, stop: ')
        await connector.test_connection()
        assert fake.queries[-1] == "buckets()"
    finally:
        db.close()


async def test_v2_errors_name_the_problem_and_never_the_token(fake: InfluxHttpFake, tmp_path: Path) -> None:
    connector, _, db = south(v2(fake, token="wrong-token"), tmp_path)
    try:
        with pytest.raises(ConnectorError, match="HTTP 401: unauthorized access") as refused:
            await connector.test_connection()
        assert "wrong-token" not in str(refused.value)
    finally:
        db.close()
    connector, _, db = south(v2(fake), tmp_path / "ok")
    try:
        with pytest.raises(ConnectorError, match="HTTP 400: error @1:1-1:5: undefined identifier fro"):
            await connector.history_query([an_item("fro(bucket: x)")], BASE, BASE + timedelta(hours=1))
        with pytest.raises(ConnectorError, match="InfluxDB v2 query failed: runtime error: out of memory"):
            await connector.history_query([an_item("fail-mid")], BASE, BASE + timedelta(hours=1))
    finally:
        db.close()


def test_annotated_csv_defaults_empty_values_and_several_tables() -> None:
    text = (
        "#datatype,string,long,dateTime:RFC3339,double,string\n#group,false,false,false,false,true\n"
        "#default,_result,,,,x\n,result,table,_time,_value,tag\n,,0,2024-01-01T00:00:00Z,,\n"
        "\n#datatype,string,long,dateTime:RFC3339,unsignedLong\n#group,false,false,false,false\n"
        "#default,_result,,,\n,result,table,_time,count\n,,1,2024-01-01T00:00:01Z,7\n"
    )
    assert list(parse_annotated_csv(text)) == [
        {"result": "_result", "table": 0, "_time": "2024-01-01T00:00:00Z", "_value": None, "tag": "x"},
        {"result": "_result", "table": 1, "_time": "2024-01-01T00:00:01Z", "count": 7},
    ]


async def test_v3_sql_rows_and_windows(fake: InfluxHttpFake, tmp_path: Path) -> None:
    connector, sink, db = south(v3(fake), tmp_path)
    try:
        newest = await read_windows(connector, an_item(SQL), 3600)
        rows = [row for content in sink.contents for row in json.loads(content)]
        assert len(sink.contents) == 2 and [row["time"] for row in rows[:2]] == [
            "2024-03-01T00:00:10",
            "2024-03-01T00:00:20",
        ]
        assert len(rows) == 719 and newest == BASE + timedelta(seconds=7190)
        assert "time > '2024-03-01T00:00:00.000Z' AND time <= '2024-03-01T01:00:00.000Z'" in fake.queries[0]
        await connector.test_connection()
        with pytest.raises(ConnectorError, match=r"HTTP 400: Error during planning: table 'plant\.public\.tmp'"):
            await connector.history_query([an_item("SELECT * FROM tmp")], BASE, BASE + timedelta(hours=1))
    finally:
        db.close()
    connector, _, db = south(v3(fake, token="nope"), tmp_path / "bad")
    try:
        with pytest.raises(ConnectorError, match="HTTP 401: Unauthorized"):
            await connector.test_connection()
    finally:
        db.close()


async def test_annotated_csv_streamed_in_pieces_cut_anywhere_gives_the_same_rows() -> None:
    # A string holding a newline and a quote: a piece may end only after a whole record, whatever bytes
    # the network delivers at a time (here 7 at a time).
    text = (
        "#datatype,string,long,dateTime:RFC3339,string\n#group,false,false,false,true\n#default,_result,,,\n"
        ",result,table,_time,note\n"
        + "".join(f',,0,2024-01-01T00:00:0{i}Z,"line {i}\nsaid ""hi"""\n' for i in range(5))
    )
    data = text.encode()

    async def network() -> AsyncIterator[bytes]:
        for first in range(0, len(data), 7):
            yield data[first : first + 7]

    parser = AnnotatedCsv()
    pieces = [piece async for piece in text_pieces(network(), csv_quotes=True)]
    rows = [row for piece in pieces for row in parser.rows(csv.reader(io.StringIO(piece)))]
    assert rows == list(parse_annotated_csv(text))
    assert [row["note"] for row in rows] == [f'line {i}\nsaid "hi"' for i in range(5)]
    assert len(pieces) > 5  # Streamed, not gathered whole.
