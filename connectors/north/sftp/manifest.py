"""Manifest and settings of the SFTP North."""

from __future__ import annotations

from typing import Annotated

import msgspec

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
from connectors.manifest import ConnectorManifest

__all__ = ["MANIFEST", "SftpNorthSettings"]


class SftpNorthSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Which SFTP server and folder to write into, and how to name the files."""

    host: SftpHost = "127.0.0.1"
    port: SftpPort = 22
    authentication: SftpAuthentication = "password"
    username: SftpUsername
    password: SftpPassword = None
    private_key: SftpPrivateKey = None
    passphrase: SftpPassphrase = None
    remote_folder: Annotated[
        str, msgspec.Meta(min_length=1, title="Remote folder", description="Folder on the server to write into.")
    ] = "/remote-folder"
    prefix: Annotated[
        str,
        msgspec.Meta(title="Prefix", description="Put before the file name; @ConnectorName, @CurrentDate."),
    ] = "@ConnectorName-"
    suffix: Annotated[
        str,
        msgspec.Meta(title="Suffix", description="Put after the file name, before its extension."),
    ] = "-@CurrentDate"

    def __post_init__(self) -> None:
        check_credentials(self.authentication, self.private_key)


MANIFEST = ConnectorManifest(
    id="sftp",
    kind="north",
    name="SFTP",
    category="file",
    description="Write files and values into a folder of an SFTP server",
    settings=SftpNorthSettings,
    types=("any", "time-values"),
)
