"""PostgreSQL South against the machine's PostgreSQL: a million rows in windows, bad queries, lost connections."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sql_harness import Harness, csv_rows, item
from sql_servers import postgres_database, psql

from connectors.errors import ConnectorConnectionError, ConnectorError
from connectors.south.postgresql import PostgresqlSouth
from connectors.south.postgresql.manifest import PostgresqlSettings

BASE = datetime(2024, 3, 1, tzinfo=UTC)
ROWS = 1_000_000
QUERY = "SELECT id, ts, label FROM data WHERE ts > @StartTime AND ts <= @EndTime ORDER BY ts"
TS_FIELD = {"fieldName": "ts", "useAsReference": True, "type": "timestamptz"}


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with postgres_database() as name:
        psql(
            name,
            "CREATE TABLE data (id int PRIMARY KEY, ts timestamptz NOT NULL, label text);"
            "CREATE TABLE x (keep int);"
            f"INSERT INTO data SELECT i, '{BASE.isoformat()}'::timestamptz + i * interval '10 ms', 'r' || i "
            f"FROM generate_series(0, {ROWS - 1}) AS i;"
            "CREATE INDEX ON data (ts)",
        )
        yield name


@pytest.fixture
def harness(database: str, tmp_path: Path) -> Iterator[Harness]:
    settings = PostgresqlSettings(host="127.0.0.1", database=database, username="postgres", request_timeout=60_000)
    h = Harness(PostgresqlSouth, settings, tmp_path)
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


async def test_injection_text_as_a_string_reference_is_only_a_value(harness: Harness, database: str) -> None:
    field = {"fieldName": "label", "useAsReference": True, "type": "string", "format": "yyyy'; DROP TABLE x; --'"}
    the_item = item("SELECT id, label FROM data WHERE label = @StartTime OR id = 1", dateTimeFields=[field])
    await harness.south.history_query([the_item], BASE, BASE + timedelta(seconds=1))
    assert [row[0] for row in csv_rows(harness.sink)] == ["1"]
    assert psql(database, "SELECT count(*) FROM x") == "0"


async def test_failing_queries_carry_the_sql_error_and_keep_the_tracked_instant(
    harness: Harness, database: str
) -> None:
    good = item(QUERY, dateTimeFields=[TS_FIELD])
    await harness.read_history(good, BASE - timedelta(seconds=1), BASE + timedelta(seconds=1), 3600)
    tracked = harness.cache.get_tracked_instant(good.id)
    assert tracked == BASE + timedelta(seconds=1)
    later = BASE + timedelta(seconds=5)
    with pytest.raises(ConnectorError, match='syntax error at or near "SELEC"'):
        await harness.read_history(item("SELEC 1 WHERE @StartTime < @EndTime"), BASE, later, 3600)
    role = f"reader_{database[-8:]}"
    psql(database, f"CREATE ROLE {role} LOGIN")
    try:
        settings = PostgresqlSettings(host="127.0.0.1", database=database, username=role)
        denied = Harness(PostgresqlSouth, settings, harness.south.context.base_folder.parent / "denied")
        try:
            with pytest.raises(ConnectorError, match="permission denied for table data"):
                await denied.read_history(good, BASE, later, 3600)
        finally:
            denied.close()
    finally:
        psql(database, f"DROP ROLE {role}")
    killed = item("SELECT pg_terminate_backend(pg_backend_pid()) WHERE @StartTime::timestamptz < @EndTime", name="rows")
    with pytest.raises(ConnectorConnectionError):
        await harness.read_history(killed, BASE, later, 3600)
    assert harness.cache.get_tracked_instant(good.id) == tracked


async def test_an_unreachable_server_is_a_connection_error(tmp_path: Path) -> None:
    h = Harness(PostgresqlSouth, PostgresqlSettings(host="127.0.0.1", port=1, database="none"), tmp_path)
    try:
        with pytest.raises(ConnectorConnectionError, match="cannot connect to PostgreSQL"):
            await h.south.test_connection()
    finally:
        h.close()


@pytest.mark.parametrize("mode", ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"])
async def test_ssl_mode_is_applied_as_libpq_would(database: str, tmp_path: Path, mode: str) -> None:
    # The machine's PostgreSQL runs without TLS (checked): the modes that accept plain text connect,
    # the ones that demand TLS fail with a connection error naming the mode.
    assert psql(database, "SHOW ssl") == "off"
    settings = PostgresqlSettings(host="127.0.0.1", database=database, username="postgres", ssl_mode=mode)  # type: ignore[arg-type]
    h = Harness(PostgresqlSouth, settings, tmp_path)
    try:
        if mode in ("disable", "allow", "prefer"):
            await h.south.test_connection()
        else:
            with pytest.raises(ConnectorConnectionError, match=f"sslMode {mode}"):
                await h.south.test_connection()
    finally:
        h.close()
