"""Amazon S3 North connector: writes each file (or values batch as JSON) as an object of a bucket."""

from __future__ import annotations

import secrets
from pathlib import Path

import msgspec

from connectors.base import ConnectorContext, NorthConnector, TimeValue
from connectors.common.file_naming import current_date
from connectors.errors import SendError
from connectors.north.aws_s3.client import S3Client
from connectors.north.aws_s3.manifest import MANIFEST, AwsS3Settings

__all__ = ["AwsS3North"]


class AwsS3North(NorthConnector[AwsS3Settings]):
    """Uploads to ``<folder>/<file name>``; multipart above ``multipartThreshold``.

    An object appears whole or not at all (S3 semantics, multipart included), so a retried send simply
    replaces it. Network failures and 5xx/408/429 retry forever; any other refusal (403, 404...) counts towards
    the cache's retries, then the entry goes to ``error/``.
    """

    manifest = MANIFEST

    def __init__(self, settings: AwsS3Settings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self._client: S3Client | None = None

    async def start(self) -> None:
        """Create the client (no request: the store may be down now and up at the first send)."""
        client = S3Client(self.settings)
        await client.__aenter__()
        self._client = client

    async def stop(self) -> None:
        """Close the client."""
        client, self._client = self._client, None
        if client is not None:
            await client.__aexit__(None, None, None)

    async def test_connection(self) -> None:
        """Check that the bucket answers with these credentials."""
        async with S3Client(self.settings) as client:
            await client.check_bucket()

    def _key(self, name: str) -> str:
        folder = self.settings.folder.strip("/")
        return f"{folder}/{name}" if folder else name

    async def handle_file(self, path: Path, filename: str) -> None:
        """Upload the file under its base name."""
        name = filename.replace("\\", "/").rsplit("/", 1)[-1] or "file"
        await self._session().upload(path, self._key(name))

    async def handle_values_json(self, data: bytes) -> None:
        """Upload the cached JSON array as ``<connector>-<date>-<random>.json``."""
        name = f"{self.context.name}-{current_date()}-{secrets.token_hex(4)}.json"
        await self._session().put_bytes(data, self._key(name))

    async def handle_values(self, values: list[TimeValue]) -> None:
        """Upload the batch as a JSON array."""
        await self.handle_values_json(msgspec.json.encode(values))

    def _session(self) -> S3Client:
        if self._client is None:
            raise SendError("connector not started", retry_forever=True)
        return self._client
