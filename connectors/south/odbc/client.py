"""pyodbc glue, in a worker thread (pyodbc blocks); driver errors become ours."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import pyodbc

from connectors.common.sql.query import ParamStyle
from connectors.common.sql.south import SqlClient
from connectors.errors import ConnectorConnectionError, ConnectorError
from connectors.south.odbc.manifest import OdbcSettings

# SQLSTATE classes of a connection that failed or is gone.
_LOST_STATES = ("08",)


class OdbcClient(SqlClient):
    """One ODBC connection; every call runs in a thread, so the event loop never blocks."""

    paramstyle: ClassVar[ParamStyle] = "qmark"

    def __init__(self, settings: OdbcSettings) -> None:
        self._settings = settings
        self._connection: Any = None
        self._cursor: Any = None

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
            raise ConnectorConnectionError(f"cannot connect through ODBC: {_message(err)}") from err

    async def close(self) -> None:
        """Close the connection."""
        connection, self._connection = self._connection, None
        if connection is not None:
            await asyncio.to_thread(connection.close)

    def native_instant(self, instant: datetime) -> Any:
        """A naive UTC datetime (ODBC timestamps carry no zone)."""
        return instant.astimezone(UTC).replace(tzinfo=None)

    def _error(self, err: pyodbc.Error) -> Exception:
        state = str(err.args[0]) if err.args else ""
        if state.startswith(_LOST_STATES):
            return ConnectorConnectionError(f"ODBC connection lost: {_message(err)}")
        return ConnectorError(f"ODBC query failed: {_message(err)}")

    async def execute(self, text: str, params: Sequence[Any]) -> list[str]:
        """Run the statement."""
        assert self._connection is not None
        values = [v.astimezone(UTC).replace(tzinfo=None) if isinstance(v, datetime) and v.tzinfo else v for v in params]
        try:
            self._cursor = await asyncio.to_thread(self._connection.execute, text, *values)
        except pyodbc.Error as err:
            raise self._error(err) from err
        return [column[0] for column in self._cursor.description or ()]

    async def fetch(self, size: int) -> Sequence[Sequence[Any]]:
        """The next rows."""
        try:
            rows: Sequence[Sequence[Any]] = await asyncio.to_thread(self._cursor.fetchmany, size)
            return rows
        except pyodbc.Error as err:
            raise self._error(err) from err


def _message(err: pyodbc.Error) -> str:
    return str(err.args[1]) if len(err.args) > 1 else str(err)
