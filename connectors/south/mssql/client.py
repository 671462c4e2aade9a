"""pymssql glue, in a worker thread (pymssql blocks); driver errors become ours.

pymssql (Cython over FreeTDS, bundled in its wheels) was chosen over python-tds: rows decode in C, which
a South that writes hundreds of thousands of rows a second needs, and NTLM domain logins and TLS come
with FreeTDS instead of extra packages. Its parameters are quoted by the driver, never by us.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, ClassVar

import pymssql

from connectors.common.sql.query import ParamStyle
from connectors.common.sql.south import ThreadedClient
from connectors.errors import ConnectorAuthError, ConnectorConnectionError, ConnectorError
from connectors.south.mssql.manifest import MssqlSettings

# DB-Library message numbers of a connection that failed or is gone (20002 connection failed, 20003
# timeout, 20004 read from server failed, 20006 write failed, 20009 server unreachable, 20047 dead).
_LOST = frozenset({20002, 20003, 20004, 20006, 20009, 20047})

# A refused login: server error 18456 ("Login failed for user"), which FreeTDS may wrap in its own 20002.
_LOGIN_FAILED = 18456


class MssqlClient(ThreadedClient[MssqlSettings]):
    """One pymssql connection; every call runs in a thread, so the event loop never blocks."""

    driver_errors: ClassVar[tuple[type[BaseException], ...]] = (pymssql.Error, OSError)
    paramstyle: ClassVar[ParamStyle] = "pyformat"

    def _login(self) -> str:
        s = self._settings
        user = s.username or ""
        return f"{s.domain}\\{user}" if s.domain else user

    def _connect(self) -> Any:
        s = self._settings
        return pymssql.connect(
            server=s.host,
            port=str(s.port),
            user=self._login(),
            password=s.password or "",
            database=s.database,
            login_timeout=max(1, s.connection_timeout // 1000),
            timeout=max(1, s.request_timeout // 1000),
            encryption="require" if s.encryption else "off",
            read_only=True,
            autocommit=True,
            appname="OIBus",
        )

    async def connect(self) -> None:
        """Open the connection (``connectionTimeout``, also bounded here: FreeTDS counts whole seconds)."""
        s = self._settings
        try:
            self._connection = await asyncio.wait_for(asyncio.to_thread(self._connect), s.connection_timeout / 1000 + 1)
        except TimeoutError as err:
            raise ConnectorConnectionError(f"cannot connect to SQL Server {s.host}:{s.port}: timed out") from err
        except (pymssql.Error, OSError) as err:
            if refused_login(err):
                raise ConnectorAuthError(
                    f"SQL Server {s.host}:{s.port} refused the login of {self._login()!r}: {_message(err)}"
                ) from err
            raise ConnectorConnectionError(f"cannot connect to SQL Server {s.host}:{s.port}: {_message(err)}") from err

    async def close(self) -> None:
        """Close the connection."""
        connection, self._connection = self._connection, None
        if connection is not None:
            await asyncio.to_thread(connection.close)

    def translate(self, err: BaseException) -> Exception:
        """The connector error for a pymssql error."""
        if isinstance(err, OSError) or _number(err) in _LOST:
            return ConnectorConnectionError(f"SQL Server connection lost: {_message(err)}")
        return ConnectorError(f"SQL Server query failed: {_message(err)}")

    def _execute(self, text: str, params: Sequence[Any]) -> Any:
        cursor = self._connection.cursor()
        if params:
            # The markers are %(p1)s, %(p2)s... (``pyformat``): pymssql takes their values by name.
            cursor.execute(text, {f"p{index}": value for index, value in enumerate(params, 1)})
        else:
            cursor.execute(text)
        return cursor

    async def execute(self, text: str, params: Sequence[Any]) -> list[str]:
        """Run the statement."""
        assert self._connection is not None
        values = self.naive_params(params)
        try:
            self._cursor = await asyncio.to_thread(self._execute, text, values)
        except (pymssql.Error, OSError) as err:
            raise self.translate(err) from err
        return [column[0] for column in self._cursor.description or ()]


def _parts(err: BaseException) -> tuple[Any, ...]:
    # pymssql's errors carry (number, b"message") or ((number, b"message"),).
    args = err.args
    if len(args) == 1 and isinstance(args[0], tuple):
        args = args[0]
    return args


def refused_login(err: BaseException) -> bool:
    """The server refused the login (not: could not be reached)."""
    return _number(err) == _LOGIN_FAILED or "Login failed for user" in _message(err)


def _number(err: BaseException) -> int:
    args = _parts(err)
    return args[0] if args and isinstance(args[0], int) else 0


def _message(err: BaseException) -> str:
    """The driver's message as one line of text (FreeTDS repeats lines; each is kept once)."""
    texts = [part.decode(errors="replace") if isinstance(part, bytes) else str(part) for part in _parts(err)[1:]]
    lines = [line.strip() for text in texts for line in text.splitlines() if line.strip()]
    unique = list(dict.fromkeys(lines))
    return " / ".join(unique) if unique else str(err) or type(err).__name__
