"""PostgreSQL North against the machine's PostgreSQL (a database of its own per test) and a private server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from fakes import RecordingLogger
from servers.postgres import private_postgres
from sql_servers import postgres_database, psql

from connectors.base import ConnectorContext
from connectors.errors import ConnectorError, ConnectorFatal, ConnectorNotReady, SendError
from connectors.north.postgresql import PostgresqlNorth
from connectors.north.postgresql.manifest import PostgresqlNorthSettings


@pytest.fixture
def database() -> Iterator[str]:
    with postgres_database() as name:
        yield name


def make(database: str, **settings: Any) -> PostgresqlNorth:
    wire = {"host": "127.0.0.1", "database": database, "username": "postgres", "table": "plant.values", **settings}
    context = ConnectorContext(
        id="n1", name="pg", logger=RecordingLogger(), base_folder=Path("."), data_folder=Path(".")
    )
    return PostgresqlNorth(msgspec.convert(wire, PostgresqlNorthSettings), context)


@pytest.fixture
async def north(database: str) -> AsyncIterator[PostgresqlNorth]:
    psql(database, "CREATE SCHEMA plant")
    connector = make(database)
    await connector.start()
    yield connector
    await connector.stop()


def values(*rows: tuple[str, str, Any]) -> bytes:
    return json.dumps([{"pointId": p, "timestamp": t, "data": {"value": v}} for p, t, v in rows]).encode()


def table(database: str, name: str = "plant.values") -> list[str]:
    out = psql(database, f"SELECT point_id, timestamp AT TIME ZONE 'UTC', value, data FROM {name} ORDER BY 1, 2")
    return out.splitlines() if out else []


async def test_values_are_inserted_with_the_number_and_the_whole_data(north: PostgresqlNorth, database: str) -> None:
    await north.handle_values_json(values(("a", "2026-01-01T00:00:00.000Z", 1.5), ("b", "2026-01-01T00:00:01Z", "on")))
    await north.handle_values(
        [{"pointId": "c", "timestamp": "2026-01-01T00:00:02Z", "data": {"value": 7, "quality": "g"}}]
    )
    assert table(database) == [
        'a|2026-01-01 00:00:00|1.5|{"value": 1.5}',
        'b|2026-01-01 00:00:01||{"value": "on"}',
        'c|2026-01-01 00:00:02|7|{"value": 7, "quality": "g"}',
    ]


async def test_a_redelivered_entry_creates_no_row_and_the_last_value_of_an_instant_wins(
    north: PostgresqlNorth, database: str
) -> None:
    entry = values(("a", "2026-01-01T00:00:00Z", 1), ("a", "2026-01-01T00:00:01Z", 2))
    await north.handle_values_json(entry)
    await north.handle_values_json(entry)
    await north.handle_values_json(values(("a", "2026-01-01T00:00:01Z", 3), ("a", "2026-01-01T00:00:01Z", 4)))
    assert table(database) == ['a|2026-01-01 00:00:00|1|{"value": 1}', 'a|2026-01-01 00:00:01|4|{"value": 4}']


def paths(north: PostgresqlNorth) -> list[str]:
    """Which way each entry went in: ``copy`` (binary COPY into the table) or ``upsert`` (through staging)."""
    return [fields["path"] for fields in north.context.logger.find("values inserted")]  # type: ignore[attr-defined]


async def test_first_sends_take_the_binary_copy_and_a_redelivery_the_upsert(
    north: PostgresqlNorth, database: str
) -> None:
    entry = values(("a", "2026-01-01T00:00:00Z", 1), ("a", "2026-01-01T01:00:00+01:00", 2))  # one instant twice
    await north.handle_values_json(values(("a", "2026-01-01T00:00:00Z", 1), ("b", "2026-01-01T00:00:00Z", True)))
    await north.handle_values_json(values(("a", "2026-01-01T00:00:00Z", 5)))  # the key exists: upsert
    await north.handle_values_json(entry)  # the same instant twice in one entry: upsert, the last wins
    await north.handle_values_json(values(("c", "2026-01-01 00:00:00", 3)))  # no offset: upsert
    await north.handle_values_json(values(("d", "2026-01-01T00:00:00.5Z", None), ("d", "2026-01-02T00:00:00Z", [1])))
    assert paths(north) == ["copy", "upsert", "upsert", "upsert", "copy"]
    assert table(database) == [
        'a|2026-01-01 00:00:00|2|{"value": 2}',
        'b|2026-01-01 00:00:00||{"value": true}',
        'c|2026-01-01 00:00:00|3|{"value": 3}',  # read in the session's time zone (UTC)
        'd|2026-01-01 00:00:00.5||{"value": null}',
        'd|2026-01-02 00:00:00||{"value": [1]}',
    ]


async def test_a_table_whose_types_the_binary_copy_cannot_fill_takes_the_upsert_for_good(database: str) -> None:
    psql(
        database,
        'CREATE TABLE hand (point_id text, "timestamp" text, value float8, data text, '
        'PRIMARY KEY (point_id, "timestamp"))',
    )
    north = make(database, table="hand", createTable=False)
    await north.start()
    try:
        await north.handle_values_json(values(("a", "2026-01-01T00:00:00Z", 1)))
        await north.handle_values_json(values(("a", "2026-01-01T00:00:01Z", 2)))
    finally:
        await north.stop()
    assert paths(north) == ["upsert", "upsert"]
    refused = north.context.logger.find("binary COPY does not fit the table, upserting every entry")  # type: ignore[attr-defined]
    assert len(refused) == 1 and refused[0]["table"] == "hand"
    assert psql(database, "SELECT count(*) FROM hand") == "2"


async def test_a_bad_timestamp_fails_the_entry_naming_it_and_inserts_nothing(
    north: PostgresqlNorth, database: str
) -> None:
    with pytest.raises(SendError, match="garbage") as caught:
        await north.handle_values_json(values(("a", "2026-01-01T00:00:00Z", 1), ("a", "garbage", 2)))
    assert not caught.value.retry_forever
    assert table(database) == []
    with pytest.raises(SendError, match="not \\[\\{pointId"):
        await north.handle_values_json(b'[{"pointId": 1}]')


async def test_an_existing_table_without_the_key_is_refused_at_start(database: str) -> None:
    psql(database, 'CREATE TABLE bare (point_id text, "timestamp" timestamptz, value float8, data jsonb)')
    with pytest.raises(ConnectorFatal, match="no unique key"):
        await make(database, table="bare").start()
    psql(database, "CREATE TABLE narrow (point_id text)")
    with pytest.raises(ConnectorFatal, match="lacks the column\\(s\\) data, timestamp, value"):
        await make(database, table="narrow").start()
    with pytest.raises(ConnectorFatal, match="does not exist and createTable is off"):
        await make(database, table="absent", createTable=False).start()
    with pytest.raises(ConnectorError, match="does not exist and createTable is off"):
        await make(database, table="absent", createTable=False).test_connection()


async def test_an_unreachable_server_is_not_ready_and_the_settings_refuse_an_unsafe_table_name(database: str) -> None:
    with pytest.raises(ConnectorNotReady, match=r"cannot connect to PostgreSQL 127\.0\.0\.1:1/"):
        await make(database, port=1, connectionTimeout=500).start()
    with pytest.raises(msgspec.ValidationError, match="table"):
        msgspec.convert({"table": 'x"; DROP TABLE y; --'}, PostgresqlNorthSettings)
    await make(database, table="fresh").test_connection()  # may be created: passes


async def test_values_survive_a_server_restart_between_entries() -> None:
    with private_postgres() as server:
        wire = {**server.settings, "table": "values"}
        context = ConnectorContext(
            id="n1", name="pg", logger=RecordingLogger(), base_folder=Path("."), data_folder=Path(".")
        )
        north = PostgresqlNorth(msgspec.convert(wire, PostgresqlNorthSettings), context)
        await north.start()
        try:
            await north.handle_values_json(values(("a", "2026-01-01T00:00:00Z", 1)))
            server.restart()
            with pytest.raises(SendError) as caught:
                await north.handle_values_json(values(("a", "2026-01-01T00:00:01Z", 2)))
            assert caught.value.retry_forever, caught.value
            await north.handle_values_json(values(("a", "2026-01-01T00:00:01Z", 2)))  # reconnects
            connection = await asyncpg.connect(host=wire["host"], user="postgres", database="postgres")
            try:
                assert await connection.fetchval("SELECT count(*) FROM values") == 2
            finally:
                await connection.close()
        finally:
            await north.stop()
            await north.stop()
