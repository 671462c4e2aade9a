"""PostgreSQL South: SQL queries over history intervals, written as CSV files."""

from connectors.south.postgresql.connector import PostgresqlSouth
from connectors.south.postgresql.manifest import MANIFEST

__all__ = ["MANIFEST", "PostgresqlSouth"]
