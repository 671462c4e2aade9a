"""MySQL South against the machine's MariaDB: a million rows in windows, bad queries, injection text."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sql_harness import Harness, csv_rows, item
from sql_servers import mariadb_database, mysql_cli

from connectors.errors import ConnectorConnectionError, ConnectorError
from connectors.south.mysql import MysqlSouth
from connectors.south.mysql.manifest import MysqlSettings

BASE = datetime(2024, 3, 1, tzinfo=UTC)
ROWS = 1_000_000
QUERY = "SELECT id, ts, label FROM data WHERE ts > @StartTime AND ts <= @EndTime ORDER BY ts"
TS_FIELD = {"fieldName": "ts", "useAsReference": True, "type": "timestamp"}


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with mariadb_database() as name:
        mysql_cli(
            name,
            "CREATE TABLE data (id INT PRIMARY KEY, ts DATETIME(3) NOT NULL, label VARCHAR(40), KEY (ts));"
            "CREATE TABLE x (keep INT);"
            "INSERT INTO data SELECT seq, TIMESTAMPADD(MICROSECOND, seq * 10000, '2024-03-01 00:00:00'), "
            f"CONCAT('r', seq) FROM seq_0_to_{ROWS - 1};",
        )
        yield name


@pytest.fixture
def harness(database: str, tmp_path: Path) -> Iterator[Harness]:
    settings = MysqlSettings(host="127.0.0.1", database=database, username="root", request_timeout=60_000)
    h = Harness(MysqlSouth, settings, tmp_path)
    yield h
    h.close()


async def test_a_million_rows_in_windows_are_each_delivered_exactly_once(harness: Harness) -> None:
    the_item = item(QUERY, dateTimeFields=[TS_FIELD], serialization={"outputTimezone": "UTC"})
    end = BASE + timedelta(milliseconds=ROWS * 10)
    newest = await harness.read_history(the_item, BASE - timedelta(seconds=1), end, max_read_interval_s=1800)
    rows = csv_rows(harness.sink)
    ids = [int(row[0]) for row in rows]
    assert len(ids) == ROWS and set(ids) == set(range(ROWS))
    assert len(harness.sink.files) == 6
    assert rows[1][1] == "2024-03-01 00:00:00.010"
    last = BASE + timedelta(milliseconds=(ROWS - 1) * 10)
    assert newest == last and harness.cache.get_tracked_instant(the_item.id) == last


async def test_injection_text_and_percent_literals_are_only_values(harness: Harness, database: str) -> None:
    field = {"fieldName": "label", "useAsReference": True, "type": "string", "format": "yyyy'; DROP TABLE x; --'"}
    query = "SELECT id, label FROM data WHERE (label = @StartTime OR id = 1) AND label LIKE 'r%'"
    await harness.south.history_query([item(query, dateTimeFields=[field])], BASE, BASE + timedelta(seconds=1))
    assert [row[0] for row in csv_rows(harness.sink)] == ["1"]
    assert mysql_cli(database, "SELECT count(*) FROM x") == "0"


async def test_failing_queries_carry_the_sql_error_and_keep_the_tracked_instant(harness: Harness) -> None:
    good = item(QUERY, dateTimeFields=[TS_FIELD])
    await harness.read_history(good, BASE - timedelta(seconds=1), BASE + timedelta(seconds=1), 3600)
    tracked = harness.cache.get_tracked_instant(good.id)
    assert tracked == BASE + timedelta(seconds=1)
    later = BASE + timedelta(seconds=5)
    with pytest.raises(ConnectorError, match="You have an error in your SQL syntax"):
        await harness.read_history(item("SELEC 1 WHERE @StartTime < @EndTime"), BASE, later, 3600)
    with pytest.raises(ConnectorError, match="doesn't exist"):
        await harness.read_history(item("SELECT * FROM nowhere WHERE @StartTime < @EndTime"), BASE, later, 3600)
    assert harness.cache.get_tracked_instant(good.id) == tracked


async def test_an_unreachable_server_is_a_connection_error(tmp_path: Path) -> None:
    h = Harness(MysqlSouth, MysqlSettings(host="127.0.0.1", port=1, database="none"), tmp_path)
    try:
        with pytest.raises(ConnectorConnectionError, match="cannot connect to MySQL"):
            await h.south.test_connection()
    finally:
        h.close()
