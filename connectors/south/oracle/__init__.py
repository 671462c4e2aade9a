"""Oracle South: SQL queries over history intervals, written as CSV files."""

from connectors.south.oracle.connector import OracleSouth
from connectors.south.oracle.manifest import MANIFEST

__all__ = ["MANIFEST", "OracleSouth"]
