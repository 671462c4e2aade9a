"""ODBC South: SQL queries through an ODBC driver over history intervals, written as CSV files."""

from connectors.south.odbc.connector import OdbcSouth
from connectors.south.odbc.manifest import MANIFEST

__all__ = ["MANIFEST", "OdbcSouth"]
