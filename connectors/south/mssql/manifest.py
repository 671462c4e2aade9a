"""Manifest and settings of the Microsoft SQL Server South."""

from __future__ import annotations

from typing import Annotated

import msgspec

from connectors.common.sql.settings import ConnectionTimeout, RequestTimeout, SqlItemSettings
from connectors.manifest import ConnectorManifest, Modes, OptionalSecret

__all__ = ["MANIFEST", "MssqlSettings"]


class MssqlSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Where the server is, how to log in and whether to encrypt."""

    host: Annotated[str, msgspec.Meta(min_length=1, title="Host", description="Server name or address.")] = "localhost"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535, title="Port", description="Server TCP port.")] = 1433
    database: Annotated[str, msgspec.Meta(min_length=1, title="Database", description="Database name.")] = "db"
    username: Annotated[str | None, msgspec.Meta(title="Username", description="SQL Server or Windows login.")] = None
    password: OptionalSecret = None
    domain: Annotated[
        str | None,
        msgspec.Meta(title="Domain", description="Windows domain: the login becomes `DOMAIN\\username` (NTLM)."),
    ] = None
    encryption: Annotated[
        bool, msgspec.Meta(title="Use encryption", description="Require TLS for the whole session.")
    ] = False
    trust_server_certificate: Annotated[
        bool,
        msgspec.Meta(
            title="Trust server certificate",
            description="Encrypt without checking the server's certificate (the only way FreeTDS encrypts here).",
        ),
    ] = False
    connection_timeout: ConnectionTimeout = 1000
    request_timeout: RequestTimeout = 15000

    def __post_init__(self) -> None:
        if self.encryption and not self.trust_server_certificate:
            # FreeTDS, as pymssql bundles it, has no CA store configured: it cannot verify the server's
            # certificate, and saying it does would be a false promise.
            raise ValueError(
                "trustServerCertificate: must be true when encryption is on; "
                "the certificate of the server cannot be verified by this driver"
            )


MANIFEST = ConnectorManifest(
    id="mssql",
    kind="south",
    name="MSSQL",
    category="database",
    description="Request Microsoft SQL Server databases with SQL queries",
    settings=MssqlSettings,
    item_settings=SqlItemSettings,
    modes=Modes(history=True),
)
