"""Manifest and settings of the FTP South."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from connectors.common.remote_folder import RemoteFolderItemSettings, RemoteRetryInterval
from connectors.manifest import ConnectorManifest, Modes, OptionalSecret

__all__ = ["MANIFEST", "FtpItemSettings", "FtpSettings"]


class FtpSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Which FTP server to read from, and how to log in."""

    host: Annotated[str, msgspec.Meta(min_length=1, title="Host", description="FTP server name or address.")] = (
        "127.0.0.1"
    )
    port: Annotated[int, msgspec.Meta(ge=1, le=65535, title="Port", description="FTP server port.")] = 21
    authentication: Annotated[
        Literal["none", "password"],
        msgspec.Meta(title="Authentication", description="none (anonymous login) or password."),
    ] = "password"
    username: Annotated[str, msgspec.Meta(title="Username", description="Account, with password authentication.")] = ""
    password: Annotated[OptionalSecret, msgspec.Meta(title="Password", description="With password authentication.")] = (
        None
    )
    explicit_tls: Annotated[
        bool,
        msgspec.Meta(title="Explicit TLS", description="Upgrade the session with AUTH TLS (FTPES) before logging in."),
    ] = False
    accept_unauthorized: Annotated[
        bool, msgspec.Meta(title="Accept unauthorized", description="With explicit TLS, accept any certificate.")
    ] = False
    compression: Annotated[
        bool, msgspec.Meta(title="Compression", description="Gzip each file and send it as <name>.gz.")
    ] = False
    retry_interval: RemoteRetryInterval = 10_000

    def __post_init__(self) -> None:
        if self.authentication == "password" and not self.username:
            raise ValueError("username is required with password authentication")


class FtpItemSettings(RemoteFolderItemSettings, frozen=True, kw_only=True, rename="camel"):
    """Which files of which remote folder the item takes."""


MANIFEST = ConnectorManifest(
    id="ftp",
    kind="south",
    name="FTP",
    category="file",
    description="Read files from an FTP server",
    settings=FtpSettings,
    item_settings=FtpItemSettings,
    modes=Modes(last_file=True),
)
