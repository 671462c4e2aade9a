"""SQLite South against a real SQLite file: windows, CSV output, date-time rules, bad input."""

from __future__ import annotations

import gzip
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from sql_harness import Harness, csv_rows, item

from connectors.common.sql.query import bind_placeholders
from connectors.common.sql.settings import SqlItemSettings
from connectors.errors import ConnectorConnectionError, ConnectorError
from connectors.south.sqlite import SqliteSouth
from connectors.south.sqlite.manifest import SqliteSettings

BASE = datetime(2024, 3, 1, tzinfo=UTC)
ROWS = 1_000_000
STEP_MS = 10
QUERY = "SELECT id, ts, label FROM data WHERE ts > @StartTime AND ts <= @EndTime ORDER BY ts"
TS_FIELD = {"fieldName": "ts", "useAsReference": True, "type": "string", "format": "yyyy-MM-dd HH:mm:ss.SSS"}


def make_db(path: Path, rows: int) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE data (id INTEGER PRIMARY KEY, ts TEXT NOT NULL, label TEXT)")
        db.execute("CREATE TABLE x (keep INTEGER)")
        db.execute(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO data SELECT i, strftime('%Y-%m-%d %H:%M:%f', ?, (i * ?) || ' seconds'), 'r' || i FROM n",
            (rows - 1, BASE.strftime("%Y-%m-%d %H:%M:%S"), STEP_MS / 1000),
        )
    db.close()


@pytest.fixture(scope="module")
def big_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "big.db"
    make_db(path, ROWS)
    return path


@pytest.fixture
def small_db(tmp_path: Path) -> Path:
    path = tmp_path / "small.db"
    make_db(path, 1000)
    return path


@pytest.fixture
def harness(small_db: Path, tmp_path: Path) -> Iterator[Harness]:
    h = Harness(SqliteSouth, SqliteSettings(database_path=str(small_db)), tmp_path)
    yield h
    h.close()


async def test_a_million_rows_in_windows_are_each_delivered_exactly_once(big_db: Path, tmp_path: Path) -> None:
    h = Harness(SqliteSouth, SqliteSettings(database_path=str(big_db)), tmp_path)
    try:
        the_item = item(QUERY, dateTimeFields=[TS_FIELD], serialization={"outputTimezone": "UTC"})
        end = BASE + timedelta(milliseconds=ROWS * STEP_MS)
        newest = await h.read_history(the_item, BASE - timedelta(seconds=1), end, max_read_interval_s=1800)
        ids = [int(row[0]) for row in csv_rows(h.sink)]
        assert len(ids) == ROWS and set(ids) == set(range(ROWS))
        assert len(h.sink.files) == 6  # 10,000 s of data in 1,800 s windows
        last = BASE + timedelta(milliseconds=(ROWS - 1) * STEP_MS)
        assert newest == last and h.cache.get_tracked_instant(the_item.id) == last
        # A second run from the tracked instant finds nothing new.
        assert await h.read_history(the_item, BASE, end, max_read_interval_s=1800) is None
        assert len(h.sink.files) == 6
    finally:
        h.close()


async def test_csv_output_format_zone_delimiter_filename_and_gzip(harness: Harness) -> None:
    the_item = item(
        QUERY,
        dateTimeFields=[TS_FIELD],
        serialization={
            "filename": "@ConnectorName-@ItemName-@QueryStartTime-@QueryEndTime.csv",
            "delimiter": "SEMI_COLON",
            "compression": True,
            "outputTimestampFormat": "dd/MM/yyyy HH:mm:ss.SSS ZZ",
            "outputTimezone": "Europe/Paris",
        },
    )
    start, end = BASE - timedelta(seconds=1), BASE + timedelta(seconds=1)
    await harness.south.history_query([the_item], start, end)
    [recorded] = harness.sink.files
    assert recorded.filename == "plant-db-rows-2024_02_29_23_59_59_000-2024_03_01_00_00_01_000.csv.gz"
    lines = gzip.decompress(recorded.data).decode().splitlines()
    assert lines[0] == "id;ts;label"
    assert lines[1] == "0;01/03/2024 01:00:00.000 +01:00;r0"
    assert lines[-1] == "100;01/03/2024 01:00:01.000 +01:00;r100"
    assert not list((harness.south.context.base_folder / "tmp").iterdir()), "scratch file removed"


async def test_unix_epoch_reference_binds_numbers(tmp_path: Path) -> None:
    path = tmp_path / "epoch.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE e (ts INTEGER, v REAL)")
        db.executemany("INSERT INTO e VALUES (?, ?)", [(1_700_000_000_000 + i * 1000, i / 2) for i in range(10)])
    db.close()
    h = Harness(SqliteSouth, SqliteSettings(database_path=str(path)), tmp_path)
    try:
        field = {"fieldName": "ts", "useAsReference": True, "type": "unix-epoch-ms"}
        the_item = item(
            "SELECT ts, v FROM e WHERE ts > @StartTime AND ts <= @EndTime",
            dateTimeFields=[field],
            serialization={"outputTimezone": "UTC"},
        )
        start = datetime.fromtimestamp(1_700_000_000, UTC)
        newest = await h.south.history_query([the_item], start, start + timedelta(seconds=5))
        rows = csv_rows(h.sink)
        assert [row[1] for row in rows] == ["0.5", "1.0", "1.5", "2.0", "2.5"]
        assert rows[0][0] == "2023-11-14 22:13:21.000"
        assert newest == start + timedelta(seconds=5)
    finally:
        h.close()


async def test_injection_text_in_a_date_time_field_and_its_format_is_harmless(harness: Harness, small_db: Path) -> None:
    with sqlite3.connect(small_db) as db:
        db.execute("INSERT INTO data VALUES (5000, ?, 'evil')", ("'; DROP TABLE x; --",))
    db.close()
    field = {**TS_FIELD, "format": "yyyy-MM-dd HH:mm:ss.SSS'; DROP TABLE x; --'"}
    the_item = item("SELECT id, ts, label FROM data WHERE ts > @StartTime OR id = 5000", dateTimeFields=[field])
    await harness.south.history_query([the_item], BASE, BASE + timedelta(seconds=1))
    rows = csv_rows(harness.sink)
    assert ["5000", "'; DROP TABLE x; --", "evil"] in rows, "an unreadable value is written as it came"
    assert "ts" in harness.logger.find("date-time values could not be read")[0]["fields"]
    with sqlite3.connect(small_db) as db:
        assert db.execute("SELECT count(*) FROM x").fetchone() == (0,), "table x still exists"
        assert db.execute("SELECT count(*) FROM data").fetchone() == (1001,)
    db.close()


def test_placeholders_become_markers_outside_literals_and_comments() -> None:
    query = (
        "SELECT '@StartTime'; DROP TABLE x; --' FROM t -- @EndTime\n"
        "WHERE a > @StartTime AND b LIKE 'x%' AND c <= @EndTime"
    )
    bound = bind_placeholders(query, "dollar")
    assert bound.text == query.replace("a > @StartTime", "a > $1").replace("c <= @EndTime", "c <= $2")
    assert bound.names == ("@StartTime", "@EndTime")
    formatted = bind_placeholders("SELECT 'x%' WHERE a > @StartTime", "format")
    assert formatted.text == "SELECT 'x%%' WHERE a > %s"
    assert bind_placeholders("SELECT 'x%'", "format").text == "SELECT 'x%'"


async def test_a_failing_query_raises_the_sql_error_and_the_tracked_instant_stays(harness: Harness) -> None:
    good = item(QUERY, dateTimeFields=[TS_FIELD])
    await harness.read_history(good, BASE - timedelta(seconds=1), BASE + timedelta(seconds=2), 3600)
    tracked = harness.cache.get_tracked_instant(good.id)
    assert tracked == BASE + timedelta(seconds=2)
    bad = item("SELEC id FROM data WHERE ts > @StartTime", dateTimeFields=[TS_FIELD], name="rows")
    with pytest.raises(ConnectorError, match="syntax error"):
        await harness.read_history(bad, BASE, BASE + timedelta(seconds=5), 3600)
    missing = item("SELECT id FROM nowhere WHERE ts > @StartTime", dateTimeFields=[TS_FIELD], name="rows")
    with pytest.raises(ConnectorError, match="no such table: nowhere"):
        await harness.read_history(missing, BASE, BASE + timedelta(seconds=5), 3600)
    assert harness.cache.get_tracked_instant(good.id) == tracked


async def test_a_missing_file_is_a_connection_error(tmp_path: Path) -> None:
    h = Harness(SqliteSouth, SqliteSettings(database_path=str(tmp_path / "none.db")), tmp_path)
    try:
        with pytest.raises(ConnectorConnectionError, match="does not exist"):
            await h.south.test_connection()
        assert not (tmp_path / "none.db").exists()
    finally:
        h.close()


async def test_item_test_shows_the_first_rows(harness: Harness) -> None:
    await harness.south.test_item(item(QUERY, dateTimeFields=[TS_FIELD]), BASE, BASE + timedelta(seconds=100))
    [content] = harness.sink.contents
    lines = content.splitlines()
    assert lines[0] == "id,ts,label" and len(lines) == 1 + 999
    assert harness.cache.get_tracked_instant("item-rows") is None


@pytest.mark.parametrize(
    ("field", "needle"),
    [
        ({"fieldName": "ts", "timezone": "Mars/Olympus"}, "timezone: unknown time zone 'Mars/Olympus'"),
        ({"fieldName": "ts", "format": "yyyy-MM-dd QQ"}, "format: unknown date-time token 'Q'"),
    ],
)
def test_a_wrong_timezone_or_format_names_the_field(field: dict[str, str], needle: str) -> None:
    with pytest.raises(msgspec.ValidationError) as caught:
        msgspec.convert({"query": "SELECT 1", "dateTimeFields": [field]}, SqlItemSettings)
    assert needle in str(caught.value) and "dateTimeFields[0]" in str(caught.value)
    with pytest.raises(msgspec.ValidationError, match="outputTimezone: unknown time zone"):
        msgspec.convert({"query": "SELECT 1", "serialization": {"outputTimezone": "Nowhere"}}, SqlItemSettings)
