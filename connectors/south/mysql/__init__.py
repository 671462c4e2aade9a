"""MySQL/MariaDB South: SQL queries over history intervals, written as CSV files."""

from connectors.south.mysql.connector import MysqlSouth
from connectors.south.mysql.manifest import MANIFEST

__all__ = ["MANIFEST", "MysqlSouth"]
