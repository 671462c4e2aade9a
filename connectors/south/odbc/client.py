"""pyodbc glue, in a worker thread (pyodbc blocks); driver errors become ours."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any, ClassVar

import pyodbc

from connectors.common.sql.query import ParamStyle
from connectors.common.sql.south import ThreadedClient
from connectors.errors import ConnectorAuthError, ConnectorConnectionError, ConnectorError
from connectors.south.odbc.manifest import OdbcSettings

# SQLSTATE classes of a connection that failed or is gone.
_LOST_STATES = ("08",)

# SQLSTATE class 28 is "invalid authorization specification" (MariaDB Connector/ODBC, SQL Server's drivers).
_AUTH_STATES = ("28",)

# psqlODBC reports every failed login as 08001 and quotes the server's FATAL message: these are refusals.
_AUTH_TEXTS = ("password authentication failed", "authentication failed for user", "does not exist")


class OdbcClient(ThreadedClient[OdbcSettings]):
    """One ODBC connection; every call runs in a thread, so the event loop never blocks."""

    driver_errors: ClassVar[tuple[type[BaseException], ...]] = (pyodbc.Error,)
    paramstyle: ClassVar[ParamStyle] = "qmark"

    def _connection_string(self) -> str:
        text = self._settings.connection_string.rstrip(";")
        if self._settings.password:
            # Braces quote the value, so a ';' in a password cannot add attributes.
            text += ";PWD={" + self._settings.password.replace("}", "}}") + "}"
        return text

    async def connect(self) -> None:
        """Open the connection (``connectionTimeout``)."""
        try:
            # Not every driver supports the login-timeout attribute (psqlODBC refuses it): bound the wait here.
            self._connection = await asyncio.wait_for(
                asyncio.to_thread(pyodbc.connect, self._connection_string(), readonly=True),
                self._settings.connection_timeout / 1000,
            )
            # A driver without query timeouts (psqlODBC) still runs the query.
            with contextlib.suppress(pyodbc.Error):
                self._connection.timeout = max(1, self._settings.request_timeout // 1000)
        except TimeoutError as err:
            raise ConnectorConnectionError("cannot connect through ODBC: timed out") from err
        except pyodbc.Error as err:
            if _refused_login(err):
                raise ConnectorAuthError(f"the ODBC data source refused the login: {_message(err)}") from err
            raise ConnectorConnectionError(f"cannot connect through ODBC: {_message(err)}") from err

    async def close(self) -> None:
        """Close the connection."""
        connection, self._connection = self._connection, None
        if connection is not None:
            await asyncio.to_thread(connection.close)

    def translate(self, err: BaseException) -> Exception:
        """The connector error for a pyodbc error."""
        state = str(err.args[0]) if err.args else ""
        if state.startswith(_LOST_STATES):
            return ConnectorConnectionError(f"ODBC connection lost: {_message(err)}")
        return ConnectorError(f"ODBC query failed: {_message(err)}")

    async def execute(self, text: str, params: Sequence[Any]) -> list[str]:
        """Run the statement."""
        assert self._connection is not None
        values = self.naive_params(params)
        try:
            self._cursor = await asyncio.to_thread(self._connection.execute, text, *values)
        except pyodbc.Error as err:
            raise self.translate(err) from err
        return [column[0] for column in self._cursor.description or ()]


def _refused_login(err: BaseException) -> bool:
    """The driver says the server refused the credentials (not that it could not be reached)."""
    state = str(err.args[0]) if err.args else ""
    if state.startswith(_AUTH_STATES):
        return True
    text = _message(err)
    # Only a server's FATAL answer counts: "does not exist" alone may be a missing driver or DSN.
    return state.startswith(_LOST_STATES) and "FATAL:" in text and any(words in text for words in _AUTH_TEXTS)


def _message(err: BaseException) -> str:
    return str(err.args[1]) if len(err.args) > 1 else str(err)
