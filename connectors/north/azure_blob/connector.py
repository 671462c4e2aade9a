"""Azure Blob North connector: writes each file (or values batch as JSON) as a blob of a container."""

from __future__ import annotations

import secrets
from pathlib import Path

import msgspec

from connectors.base import ConnectorContext, NorthConnector, TimeValue
from connectors.common.file_naming import current_date
from connectors.errors import SendError
from connectors.north.azure_blob.client import BlobClient
from connectors.north.azure_blob.manifest import MANIFEST, AzureBlobSettings

__all__ = ["AzureBlobNorth"]


class AzureBlobNorth(NorthConnector[AzureBlobSettings]):
    """Uploads to ``<path>/<file name>`` (a block blob, committed whole), replacing a blob of the same name.

    Network failures and 5xx/408/429 retry forever; any other refusal (403, 404...) counts towards the cache's
    retries, then the entry goes to ``error/``.
    """

    manifest = MANIFEST

    def __init__(self, settings: AzureBlobSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self._client: BlobClient | None = None

    async def start(self) -> None:
        """Create the client (no request: the store may be down now and up at the first send)."""
        client = BlobClient(self.settings)
        await client.__aenter__()
        self._client = client

    async def stop(self) -> None:
        """Close the client."""
        client, self._client = self._client, None
        if client is not None:
            await client.__aexit__(None, None, None)

    async def test_connection(self) -> None:
        """Check that the container answers with these credentials."""
        async with BlobClient(self.settings) as client:
            await client.check_container()

    def _name(self, name: str) -> str:
        folder = self.settings.path.strip("/")
        return f"{folder}/{name}" if folder else name

    async def handle_file(self, path: Path, filename: str) -> None:
        """Upload the file under its base name."""
        name = filename.replace("\\", "/").rsplit("/", 1)[-1] or "file"
        await self._session().upload_file(path, self._name(name))

    async def handle_values_json(self, data: bytes) -> None:
        """Upload the cached JSON array as ``<connector>-<date>-<random>.json``."""
        name = f"{self.context.name}-{current_date()}-{secrets.token_hex(4)}.json"
        await self._session().upload(data, self._name(name))

    async def handle_values(self, values: list[TimeValue]) -> None:
        """Upload the batch as a JSON array."""
        await self.handle_values_json(msgspec.json.encode(values))

    def _session(self) -> BlobClient:
        if self._client is None:
            raise SendError("connector not started", retry_forever=True)
        return self._client
