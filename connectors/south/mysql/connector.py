"""MySQL and MariaDB South connector."""

from __future__ import annotations

from connectors.common.sql.south import SqlClient, SqlSouth
from connectors.south.mysql.client import MysqlClient
from connectors.south.mysql.manifest import MANIFEST, MysqlSettings


class MysqlSouth(SqlSouth[MysqlSettings]):
    """Reads each history interval with the item's query (asyncmy) into one CSV file."""

    manifest = MANIFEST

    def client(self) -> SqlClient:
        """A new asyncmy client."""
        return MysqlClient(self.settings)
