"""Manifest and settings of the folder-scanner South."""

from __future__ import annotations

from typing import Annotated

import msgspec

from connectors.common.file_filter import valid_regex
from connectors.common.smb import SmbDomain, SmbPassword, SmbUsername
from connectors.manifest import ConnectorManifest, Modes

__all__ = ["MANIFEST", "FolderScannerItemSettings", "FolderScannerSettings"]


class FolderScannerSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Where to read files, and whether to gzip them before handing them over."""

    input_folder: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            title="Input folder",
            description="Folder to scan; a relative path is resolved against the data folder.",
        ),
    ]
    compression: Annotated[
        bool, msgspec.Meta(title="Compression", description="Gzip each file and send it as <name>.gz.")
    ] = False
    username: SmbUsername = None
    password: SmbPassword = None
    domain: SmbDomain = None


class FolderScannerItemSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Which files of the folder an item takes, and what happens to them once handed over."""

    regex: Annotated[
        str,
        msgspec.Meta(
            title="File name regex",
            description="Python regular expression searched in each file name (not anchored).",
        ),
    ]
    min_age: Annotated[
        int,
        msgspec.Meta(
            ge=0,
            title="Minimum age",
            description="Skip files modified less than this long ago (still being written).",
            extra={"unit": "ms"},
        ),
    ] = 1000
    preserve_files: Annotated[
        bool,
        msgspec.Meta(
            title="Preserve files",
            description="Keep files in the folder and remember which were sent; otherwise delete them.",
        ),
    ] = True
    ignore_modified_date: Annotated[
        bool,
        msgspec.Meta(
            title="Ignore modified date",
            description="With preserveFiles, never resend a file already sent, even if it changed.",
        ),
    ] = False
    max_files: Annotated[
        int,
        msgspec.Meta(ge=0, title="Max files", description="Files sent per scan at most (0 = unlimited)."),
    ] = 0
    max_size: Annotated[
        int,
        msgspec.Meta(
            ge=0,
            title="Max size",
            description="Total size of the files sent per scan at most (0 = unlimited).",
            extra={"unit": "MB"},
        ),
    ] = 0
    recursive: Annotated[
        bool,
        msgspec.Meta(title="Recursive", description="Scan sub-folders too; the relative path becomes the file name."),
    ] = False

    def __post_init__(self) -> None:
        valid_regex(self.regex)


MANIFEST = ConnectorManifest(
    id="folder-scanner",
    kind="south",
    name="Folder scanner",
    category="file",
    description="Read files from a local or mounted folder",
    settings=FolderScannerSettings,
    item_settings=FolderScannerItemSettings,
    modes=Modes(last_file=True),
)
