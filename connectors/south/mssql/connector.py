"""Microsoft SQL Server South connector."""

from __future__ import annotations

from connectors.common.sql.south import SqlClient, SqlSouth
from connectors.south.mssql.client import MssqlClient
from connectors.south.mssql.manifest import MANIFEST, MssqlSettings


class MssqlSouth(SqlSouth[MssqlSettings]):
    """Reads each history interval with the item's query (pymssql, in a thread) into one CSV file."""

    manifest = MANIFEST

    def client(self) -> SqlClient:
        """A new pymssql client."""
        return MssqlClient(self.settings)
