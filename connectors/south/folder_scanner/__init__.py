"""Folder-scanner South: hands over the files of a folder that match each item's regex."""

from connectors.south.folder_scanner.connector import FolderScannerSouth
from connectors.south.folder_scanner.manifest import MANIFEST

__all__ = ["MANIFEST", "FolderScannerSouth"]
