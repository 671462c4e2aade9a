"""Manifest and settings of the PostgreSQL South."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from connectors.common.sql.settings import ConnectionTimeout, RequestTimeout, SqlItemSettings
from connectors.manifest import ConnectorManifest, Modes, OptionalSecret

__all__ = ["MANIFEST", "PostgresqlSettings", "SslMode"]

SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
"""libpq's ``sslmode`` values, with libpq's meanings (``verify-*`` check against the system's CA store)."""


class PostgresqlSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Where the server is and how to log in."""

    host: Annotated[str, msgspec.Meta(min_length=1, title="Host", description="Server name or address.")] = "localhost"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535, title="Port", description="Server TCP port.")] = 5432
    connection_timeout: ConnectionTimeout = 1000
    database: Annotated[str, msgspec.Meta(min_length=1, title="Database", description="Database name.")] = "db"
    username: Annotated[str | None, msgspec.Meta(title="Username", description="Login role.")] = None
    password: OptionalSecret = None
    request_timeout: RequestTimeout = 1000
    ssl_mode: Annotated[
        SslMode,
        msgspec.Meta(
            title="SSL mode",
            description="libpq's sslmode: `disable`, `allow`, `prefer` (TLS if the server offers it), `require`, "
            "`verify-ca`, `verify-full` (certificate and host name checked against the system's CAs).",
        ),
    ] = "prefer"


MANIFEST = ConnectorManifest(
    id="postgresql",
    kind="south",
    name="PostgreSQL",
    category="database",
    description="Request PostgreSQL databases with SQL queries",
    settings=PostgresqlSettings,
    item_settings=SqlItemSettings,
    modes=Modes(history=True),
)
