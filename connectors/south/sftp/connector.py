"""SFTP South connector: hands the matching files of remote folders over, then deletes or remembers them."""

from __future__ import annotations

from connectors.common.remote_folder import RemoteFolderClient, RemoteFolderSouth
from connectors.common.sftp import open_session
from connectors.south.sftp.manifest import MANIFEST, SftpItemSettings, SftpSettings

__all__ = ["SftpSouth"]


class SftpSouth(RemoteFolderSouth[SftpSettings, SftpItemSettings]):
    """Scans each item's remote folder over one SFTP session (password or private key)."""

    manifest = MANIFEST

    async def connect(self) -> RemoteFolderClient:
        """Open and authenticate one SFTP session."""
        return await open_session(self.settings)

    @property
    def compression(self) -> bool:
        """Whether files are gzipped before they are handed over."""
        return self.settings.compression
