"""OIBus North connector: sends each cache entry to another OIBus, in the dialect of its generation."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import msgspec

from connectors.base import ConnectorContext, NorthConnector, TimeValue
from connectors.errors import SendError
from connectors.north.oibus.client import OIBusClient
from connectors.north.oibus.manifest import MANIFEST, OIBusSettings

__all__ = ["OIBusNorth"]


class OIBusNorth(NorthConnector[OIBusSettings]):
    """Relays time-values and files to another OIBus (typically from an OT network to an IT one).

    The sender's name on the wire is this North's name for 3.8+ (``dataSourceId``) and 3.0-3.4 (``name``),
    and ``<engine name>:<North name>`` for v2, as the upstream senders of those generations did. An entry
    leaves the cache only once the receiver answered 2xx, which a 3.8+ or Python OIBus does only after
    every target North there stored it on disk.
    """

    manifest = MANIFEST

    def __init__(self, settings: OIBusSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        name = context.name if settings.target_version != "2" else f"{context.engine_name}:{context.name}"
        self.source_name = name
        self._stack: AsyncExitStack | None = None
        self._client: OIBusClient | None = None

    async def start(self) -> None:
        """Open the HTTP session (nothing is sent: an absent receiver is reported per entry)."""
        if self._stack is not None:
            return
        stack = AsyncExitStack()
        self._client = await stack.enter_async_context(OIBusClient(self.settings, self.source_name))
        self._stack = stack

    async def stop(self) -> None:
        """Close the HTTP session; safe to call twice."""
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def test_connection(self) -> None:
        """Ask the other OIBus for its info with the credentials (``/api/engine/info``, ``/api/info``, ``/info``)."""
        async with OIBusClient(self.settings, self.source_name) as client:
            await client.test()

    def _sender(self) -> OIBusClient:
        if self._client is None:
            raise SendError("connector not started", retry_forever=True)
        return self._client

    async def handle_values_json(self, data: bytes) -> None:
        """Send the cached JSON array as it is (wrapped in the 3.8+ envelope when needed)."""
        await self._sender().send_values(data)

    async def handle_values(self, values: list[TimeValue]) -> None:
        """Send a batch of time-values."""
        await self.handle_values_json(msgspec.json.encode(values))

    async def handle_file(self, path: Path, filename: str) -> None:
        """Upload the file under its logical name."""
        await self._sender().send_file(path, filename)
