"""FTP South: hands over the files of remote folders that match each item's regex."""

from connectors.south.ftp.connector import FtpSouth
from connectors.south.ftp.manifest import MANIFEST

__all__ = ["MANIFEST", "FtpSouth"]
