"""Manifest and settings of the file-writer North."""

from __future__ import annotations

from typing import Annotated

import msgspec

from connectors.common.smb import SmbDomain, SmbPassword, SmbUsername
from connectors.manifest import ConnectorManifest

__all__ = ["MANIFEST", "FileWriterSettings"]


class FileWriterSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Where to write, and how to name the files (``@ConnectorName``, ``@CurrentDate`` are replaced)."""

    output_folder: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            title="Output folder",
            description="Folder to write into; a relative path is resolved against the data folder.",
        ),
    ]
    prefix: Annotated[
        str,
        msgspec.Meta(title="Prefix", description="Put before the file name; @ConnectorName, @CurrentDate."),
    ] = "@ConnectorName-"
    suffix: Annotated[
        str,
        msgspec.Meta(title="Suffix", description="Put after the file name, before its extension."),
    ] = "-@CurrentDate"
    username: SmbUsername = None
    password: SmbPassword = None
    domain: SmbDomain = None


MANIFEST = ConnectorManifest(
    id="file-writer",
    kind="north",
    name="File writer",
    category="file",
    description="Write files and values into a local or mounted folder",
    settings=FileWriterSettings,
    types=("any", "time-values", "setpoint"),
)
