"""Microsoft SQL Server South: SQL queries over history intervals, written as CSV files."""

from connectors.south.mssql.connector import MssqlSouth
from connectors.south.mssql.manifest import MANIFEST

__all__ = ["MANIFEST", "MssqlSouth"]
