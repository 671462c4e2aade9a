"""SFTP North: uploads files and values batches into a folder of an SFTP server."""

from connectors.north.sftp.connector import SftpNorth
from connectors.north.sftp.manifest import MANIFEST

__all__ = ["MANIFEST", "SftpNorth"]
