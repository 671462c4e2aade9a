"""PostgreSQL South connector."""

from __future__ import annotations

from connectors.common.sql.south import SqlClient, SqlSouth
from connectors.south.postgresql.client import PostgresqlClient
from connectors.south.postgresql.manifest import MANIFEST, PostgresqlSettings


class PostgresqlSouth(SqlSouth[PostgresqlSettings]):
    """Reads each history interval with the item's query (asyncpg) into one CSV file."""

    manifest = MANIFEST

    def client(self) -> SqlClient:
        """A new asyncpg client."""
        return PostgresqlClient(self.settings)
