"""Manifest and settings of the SFTP South."""

from __future__ import annotations

from typing import Annotated

import msgspec

from connectors.common.remote_folder import RemoteFolderItemSettings, RemoteRetryInterval
from connectors.common.sftp import (
    SftpAuthentication,
    SftpHost,
    SftpPassphrase,
    SftpPassword,
    SftpPort,
    SftpPrivateKey,
    SftpUsername,
    check_credentials,
)
from connectors.manifest import ConnectorManifest, Modes

__all__ = ["MANIFEST", "SftpItemSettings", "SftpSettings"]


class SftpSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Which SFTP server to read from, and how to log in."""

    host: SftpHost = "127.0.0.1"
    port: SftpPort = 22
    authentication: SftpAuthentication = "password"
    username: SftpUsername
    password: SftpPassword = None
    private_key: SftpPrivateKey = None
    passphrase: SftpPassphrase = None
    compression: Annotated[
        bool, msgspec.Meta(title="Compression", description="Gzip each file and send it as <name>.gz.")
    ] = False
    retry_interval: RemoteRetryInterval = 10_000

    def __post_init__(self) -> None:
        check_credentials(self.authentication, self.private_key)


class SftpItemSettings(RemoteFolderItemSettings, frozen=True, kw_only=True, rename="camel"):
    """Which files of which remote folder the item takes."""


MANIFEST = ConnectorManifest(
    id="sftp",
    kind="south",
    name="SFTP",
    category="file",
    description="Read files from an SFTP server",
    settings=SftpSettings,
    item_settings=SftpItemSettings,
    modes=Modes(last_file=True),
)
