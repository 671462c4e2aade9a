"""asyncpg glue: a server-side cursor streams a query's rows; driver errors become ours."""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from typing import Any, ClassVar

import asyncpg

from connectors.common.sql.query import ParamStyle
from connectors.common.sql.south import SqlClient
from connectors.errors import ConnectorConnectionError, ConnectorError
from connectors.south.postgresql.manifest import PostgresqlSettings

_LOST = (OSError, asyncpg.exceptions.ConnectionDoesNotExistError, asyncpg.exceptions.InterfaceError)


def _ssl(mode: str) -> str | ssl.SSLContext:
    """The ``ssl`` asyncpg takes for a libpq ``sslmode``; the ``verify-*`` modes trust the system's CA store.

    Given the mode name alone, asyncpg looks for libpq's ``~/.postgresql/root.crt``, which an OIBus
    service account seldom has; a context built from the system's defaults verifies as a browser would.
    """
    if mode not in ("verify-ca", "verify-full"):
        return mode
    context = ssl.create_default_context()
    context.check_hostname = mode == "verify-full"
    return context


class PostgresqlClient(SqlClient):
    """One asyncpg connection; the rows of a query come from a cursor inside a read-only transaction."""

    paramstyle: ClassVar[ParamStyle] = "dollar"

    def __init__(self, settings: PostgresqlSettings) -> None:
        self._settings = settings
        self._connection: asyncpg.Connection | None = None
        self._transaction: Any = None
        self._cursor: Any = None

    async def connect(self) -> None:
        """Open the connection (``connectionTimeout``)."""
        s = self._settings
        try:
            self._connection = await asyncpg.connect(
                host=s.host,
                port=s.port,
                user=s.username or None,
                password=s.password or None,
                database=s.database,
                timeout=s.connection_timeout / 1000,
                command_timeout=s.request_timeout / 1000,
                statement_cache_size=0,
                ssl=_ssl(s.ssl_mode),
            )
        except (OSError, TimeoutError, asyncpg.exceptions.PostgresError, asyncpg.exceptions.InterfaceError) as err:
            # OSError includes asyncpg's "rejected SSL upgrade" when sslMode requires TLS the server lacks.
            raise ConnectorConnectionError(
                f"cannot connect to PostgreSQL {s.host}:{s.port} (sslMode {s.ssl_mode}): {err}"
            ) from err

    async def close(self) -> None:
        """Close the connection (ending the transaction with it)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                await connection.close(timeout=5)
            except Exception:
                connection.terminate()

    async def execute(self, text: str, params: Sequence[Any]) -> list[str]:
        """Prepare the statement and open a cursor over it."""
        assert self._connection is not None
        try:
            self._transaction = self._connection.transaction(readonly=True)
            await self._transaction.start()
            statement = await self._connection.prepare(text)
            self._cursor = await statement.cursor(*params)
            return [attribute.name for attribute in statement.get_attributes()]
        except _LOST as err:
            raise ConnectorConnectionError(f"PostgreSQL connection lost: {err}") from err
        except (asyncpg.exceptions.PostgresError, TimeoutError, ValueError, TypeError) as err:
            raise ConnectorError(f"PostgreSQL query failed: {err}") from err

    async def fetch(self, size: int) -> Sequence[Sequence[Any]]:
        """The next rows of the cursor."""
        try:
            rows: Sequence[Sequence[Any]] = await self._cursor.fetch(
                size, timeout=self._settings.request_timeout / 1000
            )
            return rows
        except _LOST as err:
            raise ConnectorConnectionError(f"PostgreSQL connection lost: {err}") from err
        except (asyncpg.exceptions.PostgresError, TimeoutError) as err:
            raise ConnectorError(f"PostgreSQL query failed: {err}") from err
