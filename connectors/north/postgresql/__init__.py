"""PostgreSQL North: time-values inserted in batches into an operator-named table, keyed for redelivery."""

from connectors.north.postgresql.connector import PostgresqlNorth
from connectors.north.postgresql.manifest import MANIFEST

__all__ = ["MANIFEST", "PostgresqlNorth"]
