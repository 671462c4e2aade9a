"""python-oracledb glue, thin mode and asyncio-native; driver errors become ours.

python-oracledb is Oracle's own driver; its thin mode speaks the protocol in Python and Cython with no
Oracle client libraries, and its asyncio API needs no thread.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any, ClassVar

import oracledb

from connectors.common.sql.query import ParamStyle
from connectors.common.sql.south import FETCH_CHUNK, NaiveUtcClient
from connectors.errors import ConnectorAuthError, ConnectorConnectionError, ConnectorError
from connectors.south.oracle.manifest import OracleSettings

# Codes of a connection that failed or is gone: python-oracledb's DPY-4011 (closed), DPY-6005 (cannot
# connect), DPY-1001 (not connected), and the server's ORA-03113/03114/03135 (end of file, lost contact).
_LOST = frozenset({"DPY-4011", "DPY-6005", "DPY-1001", "ORA-03113", "ORA-03114", "ORA-03135"})

# A refused login: invalid username/password, null password, no CREATE SESSION, account locked, expired.
_AUTH = frozenset({"ORA-01017", "ORA-01005", "ORA-01045", "ORA-28000", "ORA-28001"})


class OracleClient(NaiveUtcClient[OracleSettings]):
    """One thin-mode connection; the session runs in UTC, rows are fetched ``FETCH_CHUNK`` at a time."""

    paramstyle: ClassVar[ParamStyle] = "numeric"

    async def connect(self) -> None:
        """Open the connection within ``connectionTimeout`` (TCP connect and handshake together)."""
        s = self._settings
        try:
            self._connection = await asyncio.wait_for(
                oracledb.connect_async(
                    user=s.username or "",
                    password=s.password or "",
                    host=s.host,
                    port=s.port,
                    service_name=s.database,
                    tcp_connect_timeout=s.connection_timeout / 1000,
                    retry_count=0,
                ),
                s.connection_timeout / 1000,
            )
            self._connection.call_timeout = s.request_timeout
            async with self._connection.cursor() as cursor:
                # Values of DATE and TIMESTAMP WITH LOCAL TIME ZONE are then read and bound as UTC.
                await cursor.execute("ALTER SESSION SET TIME_ZONE = 'UTC'")
        except TimeoutError as err:
            raise ConnectorConnectionError(f"cannot connect to Oracle {s.host}:{s.port}: timed out") from err
        except (oracledb.Error, OSError) as err:
            if refused_login(err):
                raise ConnectorAuthError(
                    f"Oracle {s.host}:{s.port} refused the login of user {s.username!r}: {_message(err)}"
                ) from err
            raise ConnectorConnectionError(f"cannot connect to Oracle {s.host}:{s.port}: {_message(err)}") from err

    async def close(self) -> None:
        """Close the connection."""
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(oracledb.Error):  # Already gone: nothing left to release.
                await connection.close()

    async def ping(self) -> None:
        """Check the connection answers (``SELECT 1 FROM DUAL``: Oracle has no ``SELECT 1``)."""
        await self.execute("SELECT 1 FROM DUAL", [])
        await self.fetch(1)

    def _error(self, err: Exception) -> Exception:
        if isinstance(err, OSError) or _code(err) in _LOST:
            return ConnectorConnectionError(f"Oracle connection lost: {_message(err)}")
        return ConnectorError(f"Oracle query failed: {_message(err)}")

    async def execute(self, text: str, params: Sequence[Any]) -> list[str]:
        """Run the statement with positional binds (``:1``, ``:2``...)."""
        assert self._connection is not None
        values = self.naive_params(params)
        try:
            self._cursor = self._connection.cursor()
            self._cursor.arraysize = FETCH_CHUNK
            self._cursor.prefetchrows = FETCH_CHUNK
            await self._cursor.execute(text, values)
        except (oracledb.Error, OSError) as err:
            raise self._error(err) from err
        return [column[0] for column in self._cursor.description or ()]

    async def fetch(self, size: int) -> Sequence[Sequence[Any]]:
        """The next rows."""
        try:
            rows: Sequence[Sequence[Any]] = await self._cursor.fetchmany(size)
            return rows
        except (oracledb.Error, OSError) as err:
            raise self._error(err) from err


def refused_login(err: BaseException) -> bool:
    """The server refused the login (not: could not be reached)."""
    return _code(err) in _AUTH


def _code(err: BaseException) -> str:
    detail = err.args[0] if err.args else None
    return str(getattr(detail, "full_code", "") or "")


def _message(err: BaseException) -> str:
    detail = err.args[0] if err.args else None
    text = str(getattr(detail, "message", None) or str(err) or type(err).__name__)
    return " / ".join(line.strip() for line in text.splitlines() if line.strip())
