"""Azure Blob North connector: writes each file (or values batch as JSON) as a blob of a container."""

from __future__ import annotations

from connectors.common.object_store import ObjectStoreNorth
from connectors.north.azure_blob.client import BlobClient
from connectors.north.azure_blob.manifest import MANIFEST, AzureBlobSettings

__all__ = ["AzureBlobNorth"]


class AzureBlobNorth(ObjectStoreNorth[AzureBlobSettings, BlobClient]):
    """Uploads to ``<path>/<file name>`` (a block blob, committed whole), replacing a blob of the same name.

    Network failures and 5xx/408/429 retry forever; any other refusal (403, 404...) counts towards the cache's
    retries, then the entry goes to ``error/``.
    """

    manifest = MANIFEST

    def _new_client(self) -> BlobClient:
        return BlobClient(self.settings)

    def _folder(self) -> str:
        return self.settings.path
