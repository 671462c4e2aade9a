"""Manifest and settings of the PostgreSQL North (time-values into a table, TimescaleDB-compatible)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from connectors.manifest import ConnectorManifest, OptionalSecret

__all__ = ["MANIFEST", "PostgresqlNorthSettings"]

_IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$"


class PostgresqlNorthSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Where the server is, how to log in, and which table receives the values."""

    host: Annotated[
        str,
        msgspec.Meta(min_length=1, max_length=255, title="Host", description="Server name, address, or socket folder."),
    ] = "localhost"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535, title="Port", description="Server TCP port.")] = 5432
    database: Annotated[
        str, msgspec.Meta(min_length=1, max_length=63, title="Database", description="Database name.")
    ] = "db"
    username: Annotated[str, msgspec.Meta(max_length=63)] | None = None
    password: OptionalSecret = None
    connection_timeout: Annotated[
        int, msgspec.Meta(ge=100, le=300_000, title="Connection timeout", description="Time allowed to connect (ms).")
    ] = 15_000
    request_timeout: Annotated[
        int, msgspec.Meta(ge=100, le=3_600_000, title="Request timeout", description="Time allowed per batch (ms).")
    ] = 60_000
    table: Annotated[
        str,
        msgspec.Meta(
            pattern=_IDENTIFIER,
            title="Table",
            description="Table (or schema.table) that receives the values: letters, digits and underscores.",
        ),
    ] = "oibus_values"
    create_table: Annotated[
        bool,
        msgspec.Meta(
            title="Create table",
            description="Create the table (and its key) at start when it does not exist.",
        ),
    ] = True


MANIFEST = ConnectorManifest(
    id="postgresql",
    kind="north",
    name="PostgreSQL",
    category="database",
    description="Insert time-values into a PostgreSQL (or TimescaleDB) table, idempotently",
    settings=PostgresqlNorthSettings,
    types=("time-values",),
)
