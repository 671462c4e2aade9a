"""Manifest and settings of the Oracle South."""

from __future__ import annotations

from typing import Annotated

import msgspec

from connectors.common.sql.settings import ConnectionTimeout, RequestTimeout, SqlItemSettings
from connectors.manifest import ConnectorManifest, Modes, OptionalSecret

__all__ = ["MANIFEST", "OracleSettings"]


class OracleSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Where the server is and how to log in."""

    thick_mode: Annotated[
        bool,
        msgspec.Meta(title="Thick mode", description="Upstream's Oracle Instant Client mode; not supported here."),
    ] = False
    oracle_client: Annotated[str | None, msgspec.Meta(title="Oracle client", description="Unused (no thick mode).")] = (
        None
    )
    host: Annotated[str, msgspec.Meta(min_length=1, title="Host", description="Server name or address.")] = "localhost"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535, title="Port", description="Listener TCP port.")] = 1521
    connection_timeout: ConnectionTimeout = 15000
    database: Annotated[
        str, msgspec.Meta(min_length=1, title="Database", description="Service name (`host:port/database`).")
    ] = "db"
    username: Annotated[str | None, msgspec.Meta(title="Username", description="Login user.")] = None
    password: OptionalSecret = None
    request_timeout: RequestTimeout = 15000

    def __post_init__(self) -> None:
        if self.thick_mode:
            raise ValueError(
                "thickMode: the Oracle Instant Client mode is not supported; "
                "thin mode reaches Oracle Database 12.1 and later without it"
            )


MANIFEST = ConnectorManifest(
    id="oracle",
    kind="south",
    name="Oracle",
    category="database",
    description="Request Oracle databases with SQL queries",
    settings=OracleSettings,
    item_settings=SqlItemSettings,
    modes=Modes(history=True),
)
