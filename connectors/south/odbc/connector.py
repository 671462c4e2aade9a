"""ODBC South connector."""

from __future__ import annotations

from connectors.common.sql.south import SqlClient, SqlSouth
from connectors.south.odbc.client import OdbcClient
from connectors.south.odbc.manifest import MANIFEST, OdbcSettings


class OdbcSouth(SqlSouth[OdbcSettings]):
    """Reads each history interval with the item's query (pyodbc, in a thread) into one CSV file."""

    manifest = MANIFEST

    def client(self) -> SqlClient:
        """A new ODBC client."""
        return OdbcClient(self.settings)
