"""Azure Blob North: writes files and values batches into an Azure Blob Storage container."""

from connectors.north.azure_blob.connector import AzureBlobNorth
from connectors.north.azure_blob.manifest import MANIFEST

__all__ = ["MANIFEST", "AzureBlobNorth"]
