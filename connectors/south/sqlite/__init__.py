"""SQLite South: SQL queries over history intervals of a SQLite file, written as CSV files."""

from connectors.south.sqlite.connector import SqliteSouth
from connectors.south.sqlite.manifest import MANIFEST

__all__ = ["MANIFEST", "SqliteSouth"]
