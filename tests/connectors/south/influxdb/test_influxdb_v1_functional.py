"""InfluxDB South v1 (InfluxQL) against Debian's influxd, started by the test on kernel-assigned ports."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from fakes import RecordingLogger, RecordingSink
from servers.influxdb import InfluxServer, influxdb_v1
from sql_peers import closed_port

from connectors.base import ConnectorContext, Item
from connectors.errors import ConnectorConnectionError, ConnectorError
from connectors.south.influxdb import InfluxdbSouth
from connectors.south.influxdb.client import InfluxdbClient
from connectors.south.influxdb.manifest import InfluxdbItemSettings, InfluxdbSettings
from engine.cache.south import SouthCacheDB
from engine.history.windowing import history_intervals, run_history

BASE = datetime(2024, 3, 1, tzinfo=UTC)
POINTS = 5000
STEP_MS = 250


def call(server: InfluxServer, path: str, method: str = "GET", body: bytes | None = None, **params: str) -> Any:
    url = f"{server.url}{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(urllib.request.Request(url, data=body, method=method), timeout=30) as answer:
        raw = answer.read()
    return json.loads(raw) if raw else None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    with influxdb_v1(tmp_path_factory.mktemp("influxd")) as running:
        call(running, "/query", "POST", q="CREATE DATABASE plant")
        start_ns = int(BASE.timestamp()) * 10**9
        lines = [f"temp,site=a value={i / 4},n={i}i {start_ns + i * STEP_MS * 10**6}" for i in range(POINTS)]
        lines.append(f"x,site=a keep=1i {start_ns}")
        call(running, "/write", "POST", "\n".join(lines).encode(), db="plant", precision="ns")
        yield running


class Reader:
    """An InfluxDB South on a recording sink and a real South cache, read window by window as the runner does."""

    def __init__(self, settings: InfluxdbSettings, tmp_path: Path) -> None:
        self.sink = RecordingSink()
        self.db = SouthCacheDB(tmp_path / "cache.db")
        self.cache = self.db.for_south("influx")
        context = ConnectorContext(
            id="influx", name="influx", logger=RecordingLogger(), base_folder=tmp_path, data_folder=tmp_path
        )
        self.south = InfluxdbSouth(settings, context, self.sink, self.cache)

    async def read(self, the_item: Item[InfluxdbItemSettings], start: datetime, end: datetime, window_s: int) -> None:
        tracked = self.cache.get_tracked_instant(the_item.id)
        intervals = history_intervals(start, end, tracked_instant=tracked, max_read_interval_s=window_s)
        await run_history(
            lambda s, e: self.south.history_query([the_item], s, e),
            intervals,
            0,
            lambda instant: self.cache.set_tracked_instant(the_item.id, instant),
            "oldest",
            tracked_instant=tracked,
        )

    def rows(self) -> list[dict[str, Any]]:
        return [row for content in self.sink.contents for row in json.loads(content)]


def an_item(query: str) -> Item[InfluxdbItemSettings]:
    return Item(id="i1", name="temp", enabled=True, settings=msgspec.convert({"query": query}, InfluxdbItemSettings))


def settings(server: InfluxServer) -> InfluxdbSettings:
    return InfluxdbSettings(version="1", host="127.0.0.1", port=server.port, database="plant")


@pytest.fixture
def reader(server: InfluxServer, tmp_path: Path) -> Iterator[Reader]:
    r = Reader(settings(server), tmp_path)
    yield r
    r.db.close()


async def test_windows_deliver_every_point_once_and_track_the_last_time(reader: Reader) -> None:
    query = "SELECT value, n, site FROM temp WHERE time > '@StartTime' AND time <= '@EndTime'"
    the_item = an_item(query)
    end = BASE + timedelta(milliseconds=POINTS * STEP_MS)
    await reader.read(the_item, BASE - timedelta(seconds=1), end, window_s=300)
    rows = reader.rows()
    assert sorted(row["n"] for row in rows) == list(range(POINTS))
    assert len(reader.sink.contents) == 5  # 1250 s of points in 300 s windows.
    assert rows[1] == {"time": "2024-03-01T00:00:00.250Z", "value": 0.25, "n": 1, "site": "a"}
    last = BASE + timedelta(milliseconds=(POINTS - 1) * STEP_MS)
    assert reader.cache.get_tracked_instant(the_item.id) == last
    await reader.south.test_connection()


async def test_group_by_tags_are_flattened_into_rows(reader: Reader) -> None:
    the_item = an_item("SELECT last(value) FROM temp WHERE time <= '@EndTime' GROUP BY site")
    await reader.south.test_item(the_item, BASE, BASE + timedelta(hours=1))
    assert json.loads(reader.sink.contents[0]) == [{"time": "2024-03-01T00:20:49.750Z", "last": 1249.75, "site": "a"}]


async def test_a_write_statement_in_the_query_is_refused_and_harmless(reader: Reader, server: InfluxServer) -> None:
    # influxd 1.x would run the DROP even sent with GET (it only warns): the South refuses it first.
    the_item = an_item("SELECT * FROM temp WHERE site = 'a' AND time > '@StartTime'; DROP MEASUREMENT x; --'")
    with pytest.raises(ConnectorError, match="only SELECT, SHOW and EXPLAIN statements are run, found 'DROP'"):
        await reader.read(the_item, BASE, BASE + timedelta(seconds=10), 3600)
    # Inside a string or a comment the same text is only text.
    quoted = an_item(r"SELECT * FROM temp WHERE site = '\'; DROP MEASUREMENT x; --' -- ; DROP MEASUREMENT x")
    await reader.south.test_item(quoted, BASE, BASE)
    assert reader.sink.contents == ["[]"]
    kept = call(server, "/query", db="plant", q="SELECT count(keep) FROM x")
    assert kept["results"][0]["series"][0]["values"][0][1] == 1
    assert reader.cache.get_tracked_instant(the_item.id) is None


async def test_a_bad_query_carries_the_influxql_error_and_keeps_the_tracked_instant(reader: Reader) -> None:
    good = an_item("SELECT value FROM temp WHERE time > '@StartTime' AND time <= '@EndTime'")
    await reader.read(good, BASE - timedelta(seconds=1), BASE + timedelta(seconds=1), 3600)
    tracked = reader.cache.get_tracked_instant(good.id)
    assert tracked == BASE + timedelta(seconds=1)
    bad = an_item("SELECT value FROM WHERE time > '@StartTime'")
    with pytest.raises(ConnectorError, match="InfluxDB v1 query failed: error parsing query: found WHERE"):
        await reader.read(bad, BASE, BASE + timedelta(seconds=5), 3600)
    assert reader.cache.get_tracked_instant(good.id) == tracked


async def test_a_closed_port_is_a_connection_error(tmp_path: Path) -> None:
    with closed_port() as port:
        r = Reader(InfluxdbSettings(version="1", host="127.0.0.1", port=port, database="plant"), tmp_path)
        try:
            with pytest.raises(ConnectorConnectionError, match=f"cannot reach InfluxDB v1 at http://127.0.0.1:{port}"):
                await r.south.test_connection()
        finally:
            r.db.close()


def test_settings_name_what_a_version_lacks() -> None:
    with pytest.raises(msgspec.ValidationError, match="database: required for InfluxDB version 1"):
        msgspec.convert({"version": "1"}, InfluxdbSettings)
    with pytest.raises(msgspec.ValidationError, match="organisation, bucket: required for InfluxDB version 2"):
        msgspec.convert({"version": "2", "token": "t"}, InfluxdbSettings)
    with pytest.raises(msgspec.ValidationError, match="url: must start with http"):
        msgspec.convert({"version": "3", "url": "ftp://x", "database": "d"}, InfluxdbSettings)
    with pytest.raises(msgspec.ValidationError, match=r"\$.version"):
        msgspec.convert({"version": "4"}, InfluxdbSettings)


async def test_a_window_larger_than_a_chunk_is_streamed_whole_in_bounded_contents(
    reader: Reader, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One window of all 5000 points, asked in chunks of 700 rows: the server sends 8 chunks (the client
    # counts them), and no content handed over holds more than one chunk gathered past 700 rows.
    reader.south.chunk_rows = 700
    opened = InfluxdbClient.__aenter__
    counted: list[InfluxdbClient] = []

    async def counting(client: InfluxdbClient) -> InfluxdbClient:
        counted.append(client)
        return await opened(client)

    monkeypatch.setattr(InfluxdbClient, "__aenter__", counting)
    the_item = an_item("SELECT value, n FROM temp WHERE time > '@StartTime' AND time <= '@EndTime'")
    await reader.read(the_item, BASE - timedelta(seconds=1), BASE + timedelta(hours=1), window_s=7200)
    rows = reader.rows()
    assert sorted(row["n"] for row in rows) == list(range(POINTS))
    sizes = [len(json.loads(content)) for content in reader.sink.contents]
    assert len(counted) == 1 and counted[0].chunks == 8  # ceil(5000 / 700) chunks of one answer.
    assert max(sizes) < 2 * 700 and len(sizes) >= 5
    last = BASE + timedelta(milliseconds=(POINTS - 1) * STEP_MS)
    assert reader.cache.get_tracked_instant(the_item.id) == last
