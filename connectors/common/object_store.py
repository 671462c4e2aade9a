"""The lifecycle shared by the Norths that write whole objects to a store (S3 bucket, Azure container)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Generic, Protocol, Self, TypeVar

import msgspec

from connectors.base import NorthConnector, TimeValue
from connectors.common.file_naming import current_date
from connectors.errors import SendError


class ObjectClient(Protocol):
    """An open client of one store: what an object-store North needs of it."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc: object) -> None: ...

    async def check(self) -> None:
        """Raise unless the bucket or container answers with these credentials."""
        ...

    async def put_file(self, path: Path, key: str) -> None:
        """Write the file as the object ``key``, whole or not at all."""
        ...

    async def put_bytes(self, data: bytes, key: str) -> None:
        """Write ``data`` as the object ``key``."""
        ...


S = TypeVar("S", bound=msgspec.Struct)
C = TypeVar("C", bound=ObjectClient)


class ObjectStoreNorth(NorthConnector[S], Generic[S, C]):
    """Files under their base name, values batches as ``<connector>-<date>-<random>.json``, below a folder.

    A subclass says how to make its client (``_new_client``) and which folder setting prefixes the keys
    (``_folder``). The client is created at start without a request: the store may be down now and up at
    the first send.
    """

    _client: C | None = None

    def _new_client(self) -> C:
        raise NotImplementedError

    def _folder(self) -> str:
        raise NotImplementedError

    async def start(self) -> None:
        """Create the client."""
        client = self._new_client()
        await client.__aenter__()
        self._client = client

    async def stop(self) -> None:
        """Close the client."""
        client, self._client = self._client, None
        if client is not None:
            await client.__aexit__(None, None, None)

    async def test_connection(self) -> None:
        """Check that the bucket or container answers with these credentials."""
        async with self._new_client() as client:
            await client.check()

    def _key(self, name: str) -> str:
        folder = self._folder().strip("/")
        return f"{folder}/{name}" if folder else name

    async def handle_file(self, path: Path, filename: str) -> None:
        """Upload the file under its base name."""
        name = filename.replace("\\", "/").rsplit("/", 1)[-1] or "file"
        await self._session().put_file(path, self._key(name))

    async def handle_values_json(self, data: bytes) -> None:
        """Upload the cached JSON array as ``<connector>-<date>-<random>.json``."""
        name = f"{self.context.name}-{current_date()}-{secrets.token_hex(4)}.json"
        await self._session().put_bytes(data, self._key(name))

    async def handle_values(self, values: list[TimeValue]) -> None:
        """Upload the batch as a JSON array."""
        await self.handle_values_json(msgspec.json.encode(values))

    def _session(self) -> C:
        if self._client is None:
            raise SendError("connector not started", retry_forever=True)
        return self._client
