"""Oracle South connector."""

from __future__ import annotations

from connectors.common.sql.south import SqlClient, SqlSouth
from connectors.south.oracle.client import OracleClient
from connectors.south.oracle.manifest import MANIFEST, OracleSettings


class OracleSouth(SqlSouth[OracleSettings]):
    """Reads each history interval with the item's query (python-oracledb, thin mode) into one CSV file."""

    manifest = MANIFEST

    def client(self) -> SqlClient:
        """A new python-oracledb client."""
        return OracleClient(self.settings)
