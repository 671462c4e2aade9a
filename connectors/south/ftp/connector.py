"""FTP South connector: hands the matching files of remote folders over, then deletes or remembers them."""

from __future__ import annotations

from connectors.common.remote_folder import RemoteFolderClient, RemoteFolderSouth
from connectors.south.ftp.client import open_session
from connectors.south.ftp.manifest import MANIFEST, FtpItemSettings, FtpSettings

__all__ = ["FtpSouth"]


class FtpSouth(RemoteFolderSouth[FtpSettings, FtpItemSettings]):
    """Scans each item's remote folder over one FTP session (anonymous or password)."""

    manifest = MANIFEST

    async def connect(self) -> RemoteFolderClient:
        """Open and log in one FTP session."""
        return await open_session(self.settings)

    @property
    def compression(self) -> bool:
        """Whether files are gzipped before they are handed over."""
        return self.settings.compression
