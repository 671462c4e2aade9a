"""ODBC South through Debian's psqlODBC driver to the machine's PostgreSQL: a million rows, bad queries."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sql_harness import Harness, csv_rows, item
from sql_servers import postgres_database, psql

from connectors.errors import ConnectorConnectionError, ConnectorError

BASE = datetime(2024, 3, 1, tzinfo=UTC)
ROWS = 1_000_000
QUERY = "SELECT id, ts, label FROM data WHERE ts > @StartTime AND ts <= @EndTime ORDER BY ts"
TS_FIELD = {"fieldName": "ts", "useAsReference": True, "type": "timestamp"}
DRIVER = "PostgreSQL Unicode"


def _driver_installed() -> bool:
    try:
        listed = subprocess.run(["odbcinst", "-q", "-d"], capture_output=True, text=True, timeout=10).stdout
    except OSError:
        return False
    return f"[{DRIVER}]" in listed


pytestmark = pytest.mark.skipif(
    not _driver_installed(), reason="ODBC driver 'PostgreSQL Unicode' missing (apt-get install odbc-postgresql)"
)


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with postgres_database() as name:
        psql(
            name,
            "CREATE TABLE data (id int PRIMARY KEY, ts timestamp NOT NULL, label text);"
            f"INSERT INTO data SELECT i, '2024-03-01 00:00:00'::timestamp + i * interval '10 ms', 'r' || i "
            f"FROM generate_series(0, {ROWS - 1}) AS i;"
            "CREATE INDEX ON data (ts)",
        )
        yield name


def settings(database: str, **more: object) -> object:
    from connectors.south.odbc.manifest import OdbcSettings

    text = f"Driver={{{DRIVER}}};Server=127.0.0.1;Port=5432;Database={database};Uid=postgres;UseDeclareFetch=1"
    return OdbcSettings(connection_string=text, request_timeout=60_000, **more)  # type: ignore[arg-type]


@pytest.fixture
def harness(database: str, tmp_path: Path) -> Iterator[Harness]:
    from connectors.south.odbc import OdbcSouth

    h = Harness(OdbcSouth, settings(database), tmp_path)  # type: ignore[arg-type]
    yield h
    h.close()


async def test_a_million_rows_in_windows_are_each_delivered_exactly_once(harness: Harness) -> None:
    the_item = item(QUERY, dateTimeFields=[TS_FIELD], serialization={"outputTimezone": "UTC"})
    end = BASE + timedelta(milliseconds=ROWS * 10)
    newest = await harness.read_history(the_item, BASE - timedelta(seconds=1), end, max_read_interval_s=1800)
    ids = [int(row[0]) for row in csv_rows(harness.sink)]
    assert len(ids) == ROWS and set(ids) == set(range(ROWS))
    assert len(harness.sink.files) == 6
    last = BASE + timedelta(milliseconds=(ROWS - 1) * 10)
    assert newest == last and harness.cache.get_tracked_instant(the_item.id) == last


async def test_failing_query_and_unreachable_server(harness: Harness, tmp_path: Path) -> None:
    with pytest.raises(ConnectorError, match="syntax error"):
        await harness.read_history(item("SELEC 1 WHERE ? < ?".replace("?", "@StartTime")), BASE, BASE + timedelta(1), 0)
    assert harness.cache.get_tracked_instant("item-rows") is None
    from connectors.south.odbc import OdbcSouth
    from connectors.south.odbc.manifest import OdbcSettings

    bad = OdbcSettings(connection_string=f"Driver={{{DRIVER}}};Server=127.0.0.1;Port=1;Database=none")
    h = Harness(OdbcSouth, bad, tmp_path / "bad")
    try:
        with pytest.raises(ConnectorConnectionError, match="cannot connect through ODBC"):
            await h.south.test_connection()
    finally:
        h.close()
