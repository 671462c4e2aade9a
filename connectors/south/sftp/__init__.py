"""SFTP South: hands over the files of remote folders that match each item's regex."""

from connectors.south.sftp.connector import SftpSouth
from connectors.south.sftp.manifest import MANIFEST

__all__ = ["MANIFEST", "SftpSouth"]
