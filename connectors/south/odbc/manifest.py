"""Manifest and settings of the ODBC South."""

from __future__ import annotations

from typing import Annotated

import msgspec

from connectors.common.sql.settings import ConnectionTimeout, RequestTimeout, SqlItemSettings
from connectors.manifest import ConnectorManifest, Modes, OptionalSecret

__all__ = ["MANIFEST", "OdbcSettings"]


class OdbcSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Which driver and data source to use."""

    remote_agent: Annotated[
        bool, msgspec.Meta(title="Use remote agent", description="Upstream's OIBus Agent; not supported here.")
    ] = False
    agent_url: Annotated[str | None, msgspec.Meta(title="Agent URL", description="Unused (no remote agent).")] = None
    connection_string: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            title="Connection string",
            description="ODBC connection string, e.g. `Driver={PostgreSQL Unicode};Server=...;Database=...`.",
        ),
    ] = "Driver={SQL Server};SERVER=127.0.0.1;TrustServerCertificate=yes"
    password: OptionalSecret = None
    connection_timeout: ConnectionTimeout = 15000
    request_timeout: RequestTimeout = 15000

    def __post_init__(self) -> None:
        if self.remote_agent:
            raise ValueError("remoteAgent: the OIBus Agent is not supported; use a local ODBC driver")


MANIFEST = ConnectorManifest(
    id="odbc",
    kind="south",
    name="ODBC",
    category="database",
    description="Request databases through an ODBC driver with SQL queries",
    settings=OdbcSettings,
    item_settings=SqlItemSettings,
    modes=Modes(history=True),
)
