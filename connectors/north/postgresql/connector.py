"""PostgreSQL North: each cache entry of time-values becomes one transaction, a binary COPY or a keyed upsert.

Fast path: the values are converted here (timestamp, numeric value, data) and copied straight into the target
table by one binary ``COPY``, the cheapest way into PostgreSQL: no staging table, no text parsing of the
timestamps, no ``INSERT … SELECT``. It succeeds whenever none of the entry's keys is in the table yet, that is
for every entry sent the first time.

Upsert path: when the ``COPY`` meets an existing key (a cache entry sent again after a crash, as the durability
contract allows, or a point written again at the same instant), its transaction is rolled back and the values
are copied into a temporary staging table and moved by one ``INSERT … ON CONFLICT (point_id, "timestamp") DO
UPDATE``, which rewrites the same rows and creates none. It also serves an entry whose keys repeat, or that
Python cannot convert as the server would (a timestamp without offset, a format ``fromisoformat`` does not
read), and a table whose column types the binary ``COPY`` cannot fill (then for good).

``handle_values_json`` returns once the transaction committed, so the engine releases the cache entry only then.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from connectors.base import ConnectorContext, NorthConnector, TimeValue
from connectors.common.published import CachedValue, decode_values, encode_values
from connectors.errors import ConnectorError, ConnectorFatal, ConnectorNotReady, SendError
from connectors.north.postgresql.manifest import MANIFEST, PostgresqlNorthSettings

__all__ = ["PostgresqlNorth"]

_STAGING = "oibus_north_staging"
_COLUMNS = ("point_id", "timestamp", "value", "data")
_LOST: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.CannotConnectNowError,
)
"""Failures where sending again later succeeds unchanged: the entry stays in the cache, retried forever."""


def quoted(table: str) -> str:
    """``schema.table`` as a quoted SQL identifier (the settings' pattern allows only letters, digits, ``_``)."""
    return ".".join(f'"{part}"' for part in table.split("."))


class PostgresqlNorth(NorthConnector[PostgresqlNorthSettings]):
    """Inserts time-values into ``table`` (``point_id``, ``timestamp``, ``value``, ``data``), keyed by both first."""

    manifest = MANIFEST

    def __init__(self, settings: PostgresqlNorthSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self._connection: asyncpg.Connection | None = None
        self._table = quoted(settings.table)
        schema, _, name = settings.table.rpartition(".")
        self._copy_target = (name, schema or None)
        self._copy_works = True
        """False once the table refused a binary COPY for another reason than an existing key."""
        self._upsert = (
            f'INSERT INTO {self._table} (point_id, "timestamp", value, data) '
            "SELECT DISTINCT ON (point_id, ts) point_id, ts, "
            "CASE WHEN jsonb_typeof(d->'value') = 'number' THEN (d->>'value')::double precision END, d "
            f"FROM (SELECT ord, point_id, ts::timestamptz AS ts, data::jsonb AS d FROM {_STAGING}) s "
            "ORDER BY point_id, ts, ord DESC "
            'ON CONFLICT (point_id, "timestamp") DO UPDATE SET value = EXCLUDED.value, data = EXCLUDED.data '
            f"WHERE ({self._table}.value, {self._table}.data) IS DISTINCT FROM (EXCLUDED.value, EXCLUDED.data)"
        )

    @property
    def where(self) -> str:
        """The server and table, for messages."""
        return (
            f"PostgreSQL {self.settings.host}:{self.settings.port}/{self.settings.database} table {self.settings.table}"
        )

    async def start(self) -> None:
        """Connect, create the table when asked and missing, and check it has the columns and the key."""
        connection = await self._connect()
        try:
            await self._prepare_table(connection)
        except BaseException:
            await _close(connection)
            raise
        self._connection = connection

    async def stop(self) -> None:
        """Close the connection (idempotent)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            await _close(connection)

    async def test_connection(self) -> None:
        """Connect and check the table (or the right to create it); raise a ``ConnectorError`` saying what is wrong."""
        connection = await self._connect()
        try:
            exists = await connection.fetchval("SELECT to_regclass($1) IS NOT NULL", self._table)
            if exists:
                await self._check_table(connection)
                if not await connection.fetchval("SELECT has_table_privilege($1, 'INSERT, UPDATE')", self._table):
                    raise ConnectorError(f"{self.where}: the role may not INSERT and UPDATE the table")
            elif not self.settings.create_table:
                raise ConnectorError(f"{self.where} does not exist and createTable is off")
        except asyncpg.exceptions.PostgresError as err:
            raise ConnectorError(f"{self.where}: {err}") from err
        finally:
            await _close(connection)

    async def handle_values(self, values: list[TimeValue]) -> None:
        """Insert a batch given as decoded time-values."""
        await self.handle_values_json(encode_values(values))

    async def handle_values_json(self, data: bytes) -> None:
        """Insert the batch in one transaction; return once it committed."""
        values = decode_values(data)
        if not values:
            return
        connection = await self._connection_for_send()
        try:
            rows = typed_rows(values) if self._copy_works else None
            path = "copy"
            if rows is None or not await self._copy(connection, rows):
                path = "upsert"
                await self._upsert_through_staging(connection, values)
        except _LOST as err:
            await self._drop_connection()
            raise SendError(f"{self.where}: connection lost: {err}", retry_forever=True) from err
        except asyncpg.exceptions.PostgresError as err:
            raise SendError(f"{self.where}: {type(err).__name__}: {err}") from err
        self.context.logger.debug("values inserted", count=len(values), table=self.settings.table, path=path)

    async def _copy(self, connection: asyncpg.Connection, rows: list[tuple[str, datetime, float | None, str]]) -> bool:
        """The fast path: one binary COPY into the table; ``False`` when the upsert path must do it."""
        name, schema = self._copy_target
        try:
            async with connection.transaction():
                await connection.copy_records_to_table(name, schema_name=schema, records=rows, columns=_COLUMNS)
        except asyncpg.exceptions.UniqueViolationError:
            return False  # a key is there already (an entry sent again): nothing was written, upsert instead
        except (ValueError, TypeError) as err:
            # asyncpg could not encode a row for the table's column types (a table made by hand): for good.
            self._copy_works = False
            self.context.logger.info(
                "binary COPY does not fit the table, upserting every entry", table=self.settings.table, error=str(err)
            )
            return False
        except _LOST:
            raise
        except asyncpg.exceptions.PostgresError:
            return False  # the upsert path does it, or says what is wrong with this entry
        return True

    async def _upsert_through_staging(self, connection: asyncpg.Connection, values: list[CachedValue]) -> None:
        records = [(n, v.pointId, v.timestamp, bytes(v.data).decode()) for n, v in enumerate(values)]
        async with connection.transaction():
            await connection.copy_records_to_table(_STAGING, records=records)
            await connection.execute(self._upsert)

    async def _connection_for_send(self) -> asyncpg.Connection:
        if self._connection is None or self._connection.is_closed():
            try:
                await self.start()
            except ConnectorError as err:
                raise SendError(str(err), retry_forever=True) from err
        assert self._connection is not None
        return self._connection

    async def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.terminate()

    async def _connect(self) -> asyncpg.Connection:
        s = self.settings
        try:
            connection: asyncpg.Connection = await asyncpg.connect(
                host=s.host,
                port=s.port,
                user=s.username or None,
                password=s.password or None,
                database=s.database,
                timeout=s.connection_timeout / 1000,
                command_timeout=s.request_timeout / 1000,
            )
        except asyncpg.exceptions.InvalidAuthorizationSpecificationError as err:
            raise ConnectorFatal(f"cannot log in to {self.where}: {err}") from err
        except (OSError, TimeoutError, asyncpg.exceptions.PostgresError) as err:
            raise ConnectorNotReady(f"cannot connect to {self.where}: {err}") from err
        return connection

    async def _prepare_table(self, connection: asyncpg.Connection) -> None:
        try:
            if self.settings.create_table:
                await connection.execute(
                    f"CREATE TABLE IF NOT EXISTS {self._table} (point_id text NOT NULL, "
                    '"timestamp" timestamptz NOT NULL, value double precision, data jsonb NOT NULL, '
                    'PRIMARY KEY (point_id, "timestamp"))'
                )
            elif not await connection.fetchval("SELECT to_regclass($1) IS NOT NULL", self._table):
                raise ConnectorFatal(f"{self.where} does not exist and createTable is off")
            await self._check_table(connection)
            await connection.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {_STAGING} (ord integer, point_id text, ts text, data text) "
                "ON COMMIT DELETE ROWS"
            )
        except _LOST as err:
            raise ConnectorNotReady(f"{self.where}: {err}") from err
        except asyncpg.exceptions.PostgresError as err:
            raise ConnectorFatal(f"{self.where}: {err}") from err

    async def _check_table(self, connection: asyncpg.Connection) -> None:
        """The table must have the four columns and a unique key on exactly (point_id, timestamp)."""
        found: list[Any] = await connection.fetch(
            "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped",
            self._table,
        )
        missing = sorted(set(_COLUMNS) - {row["attname"] for row in found})
        if missing:
            raise ConnectorFatal(f"{self.where} lacks the column(s) {', '.join(missing)}")
        keys = await connection.fetch(
            "SELECT array_agg(a.attname::text ORDER BY a.attname) AS cols FROM pg_index i "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = $1::regclass AND i.indisunique GROUP BY i.indexrelid",
            self._table,
        )
        if not any(list(row["cols"]) == ["point_id", "timestamp"] for row in keys):
            raise ConnectorFatal(
                f'{self.where} has no unique key on (point_id, "timestamp"): redelivery would duplicate'
            )


_DATA = msgspec.json.Decoder()
_FROM_ISO = datetime.fromisoformat


def typed_rows(values: list[CachedValue]) -> list[tuple[str, datetime, float | None, str]] | None:
    """The table's rows of ``values`` for a binary COPY; ``None`` when the upsert path must take the entry.

    ``value`` is the data's ``value`` when it is a JSON number (as the upsert's ``jsonb_typeof`` reads it).
    ``None`` for a timestamp ``fromisoformat`` does not read or that has no offset (the server reads those in
    its session's time zone), for keys that repeat in the entry (one COPY cannot keep the last), and for a
    number no double holds.
    """
    rows: list[tuple[str, datetime, float | None, str]] = []
    keys: set[tuple[str, datetime]] = set()
    for v in values:
        try:
            stamp = _FROM_ISO(v.timestamp)
        except ValueError:
            return None
        if stamp.tzinfo is None:
            return None
        raw = bytes(v.data)
        data = _DATA.decode(raw)
        value: Any = data.get("value") if type(data) is dict else None
        kind = type(value)
        if kind is int:
            try:
                value = float(value)
            except OverflowError:
                return None
        elif kind is not float:
            value = None
        rows.append((v.pointId, stamp, value, raw.decode()))
        keys.add((v.pointId, stamp))
    return rows if len(keys) == len(rows) else None


async def _close(connection: asyncpg.Connection) -> None:
    try:
        await connection.close(timeout=5)
    except Exception:
        connection.terminate()
