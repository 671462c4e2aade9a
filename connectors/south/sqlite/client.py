"""sqlite3 glue, in a worker thread: the file is opened read-only and rows are fetched in chunks."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from connectors.common.sql.query import ParamStyle
from connectors.common.sql.south import SqlClient
from connectors.errors import ConnectorConnectionError, ConnectorError


def _text(instant: datetime) -> str:
    # SQLite has no date-time type: the usual text form, UTC when the instant is aware, compares as text.
    if instant.tzinfo is not None:
        instant = instant.astimezone(UTC).replace(tzinfo=None)
    return instant.isoformat(sep=" ", timespec="milliseconds")


class SqliteClient(SqlClient):
    """One read-only connection to the file; every call runs in a thread, so the event loop never blocks."""

    paramstyle: ClassVar[ParamStyle] = "qmark"

    def __init__(self, path: Path) -> None:
        self._path = path
        self._connection: sqlite3.Connection | None = None
        self._cursor: sqlite3.Cursor | None = None

    async def connect(self) -> None:
        """Open the file read-only (a missing file is an error, not a new empty database)."""
        if not self._path.is_file():
            raise ConnectorConnectionError(f"SQLite database {str(self._path)!r} does not exist")
        try:
            self._connection = await asyncio.to_thread(
                sqlite3.connect, f"{self._path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
            )
        except sqlite3.Error as err:
            raise ConnectorConnectionError(f"cannot open SQLite database {str(self._path)!r}: {err}") from err

    async def close(self) -> None:
        """Close the connection."""
        connection, self._connection = self._connection, None
        if connection is not None:
            await asyncio.to_thread(connection.close)

    def native_instant(self, instant: datetime) -> Any:
        """``YYYY-MM-DD HH:MM:SS.SSS`` in UTC."""
        return _text(instant)

    async def execute(self, text: str, params: Sequence[Any]) -> list[str]:
        """Run the statement."""
        assert self._connection is not None
        values = [_text(value) if isinstance(value, datetime) else value for value in params]
        try:
            self._cursor = await asyncio.to_thread(self._connection.execute, text, values)
        except sqlite3.Error as err:
            raise ConnectorError(f"SQLite query failed: {err}") from err
        return [column[0] for column in self._cursor.description or ()]

    async def fetch(self, size: int) -> Sequence[Sequence[Any]]:
        """The next rows."""
        assert self._cursor is not None
        try:
            return await asyncio.to_thread(self._cursor.fetchmany, size)
        except sqlite3.Error as err:
            raise ConnectorError(f"SQLite query failed: {err}") from err
