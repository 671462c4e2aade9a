"""asyncpg glue: a server-side cursor streams a query's rows, or ``COPY`` its CSV; driver errors become ours."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import asyncpg

from connectors.common.sql.output import output_stream
from connectors.common.sql.query import ParamStyle, bind_placeholders
from connectors.common.sql.settings import SqlItemSettings
from connectors.common.sql.south import SqlClient
from connectors.errors import ConnectorAuthError, ConnectorConnectionError, ConnectorError
from connectors.south.postgresql.copy import CopyPlan, copy_plan
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
        except asyncpg.exceptions.InvalidAuthorizationSpecificationError as err:
            # SQLSTATE class 28: 28000 (unknown role, no pg_hba entry) and 28P01 (wrong password).
            raise ConnectorAuthError(
                f"PostgreSQL {s.host}:{s.port} refused the login of user {s.username!r} "
                f"(SQLSTATE {err.sqlstate}): {err}"
            ) from err
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

    async def copy_csv(
        self, settings: SqlItemSettings, start: Any, end: Any, path: Path
    ) -> tuple[int, datetime | None] | None:
        """``COPY`` the item's formatted rows into ``path`` when ``copy.copy_plan`` allows it."""
        connection = self._connection
        assert connection is not None
        bound = bind_placeholders(settings.query, self.paramstyle)
        values = bound.values(start, end)
        try:
            # One snapshot for the rows and their newest instant.
            transaction = connection.transaction(isolation="repeatable_read", readonly=True)
            await transaction.start()
            statement = await connection.prepare(bound.text)
            columns = [(attribute.name, attribute.type.name) for attribute in statement.get_attributes()]
            parameters = [kind.name for kind in statement.get_parameters()]
            plan = copy_plan(
                settings.query, columns, parameters, values, settings.date_time_fields, settings.serialization
            )
            if plan is None:
                await transaction.rollback()
                return None
            return await self._copy(connection, plan, path, settings.serialization.compression)
        except _LOST as err:
            raise ConnectorConnectionError(f"PostgreSQL connection lost: {err}") from err
        except (asyncpg.exceptions.PostgresError, TimeoutError, ValueError, TypeError) as err:
            raise ConnectorError(f"PostgreSQL query failed: {err}") from err

    async def _copy(
        self, connection: asyncpg.Connection, plan: CopyPlan, path: Path, compression: bool
    ) -> tuple[int, datetime | None]:
        timeout = self._settings.request_timeout / 1000
        calls = ", ".join(f"set_config(${2 * n + 1}, ${2 * n + 2}, true)" for n in range(len(plan.settings)))
        await connection.execute(f"SELECT {calls}", *[text for pair in plan.settings for text in pair])
        started = asyncio.get_running_loop().time()
        with output_stream(path, compression) as stream:
            status = await _copy_out(connection, plan, stream.write, timeout)
        # The newest instant is an aggregate over the rows just copied: it may take as long as the COPY did,
        # so its budget is requestTimeout plus twice the COPY's time (not requestTimeout alone).
        budget = timeout + 2 * (asyncio.get_running_loop().time() - started)
        newest = await connection.fetchval(plan.newest, timeout=budget) if plan.newest else None
        return int(str(status).rsplit(" ", 1)[-1]), newest

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


_WHOLE_COPY_S = 7 * 24 * 3600.0
"""asyncpg caps a whole ``COPY`` with its ``timeout``; ours caps each wait for data (see ``_copy_out``)."""


_GATHER_BYTES = 64 * 1024
_GATHER_S = 0.002
"""After a chunk of ``COPY`` data smaller than ``_GATHER_BYTES``, the reader waits ``_GATHER_S`` before the next.

A small chunk means the South reads faster than the server writes: each read then takes one 8 KiB send of
the server (a few hundred rows), and the cost of a read (the loop's wake-up, asyncpg's pause and resume,
a task, a ``write``) is most of the South's CPU. Waiting 2 ms lets the socket gather ten times more; the
server never waits on it (a 2 ms worth of rows is far below the socket's buffer), and a server writing
faster than 32 MB/s sends chunks big enough that the reader never waits.
"""


async def _copy_out(
    connection: asyncpg.Connection, plan: CopyPlan, write: Callable[[bytes], object], idle_s: float
) -> str:
    """``COPY`` ``plan.rows`` out through ``write``; ``TimeoutError`` when no data came for ``idle_s`` seconds.

    ``requestTimeout`` bounds each wait, as it bounds each cursor fetch on the row path: a window of many
    rows that streams steadily is not cut at one second, while a server that stops sending is (the query is
    cancelled with the task, and the window is read again at the next scan).
    """
    loop = asyncio.get_running_loop()
    last = loop.time()

    async def sink(chunk: bytes) -> None:
        nonlocal last
        last = loop.time()
        write(chunk)
        if len(chunk) < _GATHER_BYTES:
            await asyncio.sleep(_GATHER_S)

    copy = asyncio.ensure_future(
        connection.copy_from_query(
            plan.rows, output=sink, timeout=_WHOLE_COPY_S, format="csv", header=True, delimiter=plan.delimiter
        )
    )
    try:
        while not copy.done():
            await asyncio.wait({copy}, timeout=max(0.0, last + idle_s - loop.time()))
            if not copy.done() and loop.time() - last >= idle_s:
                raise TimeoutError(f"no data from COPY for {idle_s:g} s (requestTimeout)")
        return str(copy.result())
    finally:
        if not copy.done():
            copy.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await copy
