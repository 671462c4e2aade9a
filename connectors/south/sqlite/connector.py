"""SQLite South connector."""

from __future__ import annotations

from pathlib import Path

from connectors.common.sql.south import SqlClient, SqlSouth
from connectors.south.sqlite.client import SqliteClient
from connectors.south.sqlite.manifest import MANIFEST, SqliteSettings


class SqliteSouth(SqlSouth[SqliteSettings]):
    """Reads each history interval with the item's query (stdlib sqlite3, in a thread) into one CSV file."""

    manifest = MANIFEST

    def client(self) -> SqlClient:
        """A new client on the database file."""
        return SqliteClient(Path(self.settings.database_path))
