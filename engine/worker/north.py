"""The North runner: stores each content durably, answers ``stored``, and feeds the connector."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from connectors.base import NorthConnector
from connectors.errors import SendError
from engine.cache.north import CacheEntry, NorthCache
from engine.cache.north.entries import content_entries
from engine.cache.north.operations import CACHE_METHODS, DRAIN_METHOD, run_operation
from engine.cache.north.types import JSON_ARRAY_TYPES
from engine.cache.settings import CachingSettings
from engine.ipc import Content, Message, Refused, Start, Stored
from engine.worker.channel import Channel
from engine.worker.runner import Runner, convert_settings

RETENTION_INTERVAL_S = 3600.0
METRICS_INTERVAL_S = 2.0


class NorthRunner(Runner[NorthConnector[Any]]):
    """Runs one North connector and owns its disk cache."""

    def __init__(self, channel: Channel, start: Start) -> None:
        super().__init__(channel, start)
        self.cache = NorthCache(
            self.data_dir,
            self.connector_id,
            self._caching(),
            send=self._send,
            send_batch=self._send_files if getattr(self.connector_cls, "supports_file_batches", False) else None,
            supported_types=self.manifest.types,
            logger=self.logger,
            folder_name=self._folder if self.spec.history is not None else None,
        )
        self._stop_event = asyncio.Event()
        self._cache_ready = asyncio.Event()
        self._stores: set[asyncio.Task[None]] = set()

    @property
    def _folder(self) -> str:
        """The cache folder's name: a history query's North keeps its own under ``history-<id>/``."""
        return f"history-{self.connector_id}/north" if self.spec.history is not None else f"north-{self.connector_id}"

    def _caching(self) -> CachingSettings:
        caching: CachingSettings = convert_settings(self.spec.caching or {}, CachingSettings, "caching")
        return caching

    def metrics(self) -> dict[str, Any]:
        """Cache metrics (sizes, sent/errored/archived, refusals)."""
        return self.cache.metrics()

    async def start_connector(self) -> None:
        """Build the connector from the DTO and start it."""
        settings = self.settings()
        base = self.data_dir / "cache" / self._folder
        connector: NorthConnector[Any] = self.connector_cls(settings, self.context(base))
        await connector.start()
        self.connector = connector

    def scratch_connector(self, settings: Any, base_folder: Path) -> NorthConnector[Any]:
        """A connector instance for a connection test."""
        connector: NorthConnector[Any] = self.connector_cls(settings, self.scratch_context(base_folder))
        return connector

    async def on_request(self, method: str, params: dict[str, Any]) -> Any:
        """Operator actions on the cache (the worker owns it), then the common requests."""
        if method in CACHE_METHODS:
            await self._cache_ready.wait()
            result = await run_operation(self.cache, method, params)
            if method == "cache_update":
                self.send_metrics()
            return result
        if method == DRAIN_METHOD:
            await self._cache_ready.wait()
            self.cache.drain()
            return None
        return await super().on_request(method, params)

    async def _send(self, entry: CacheEntry) -> None:
        """Hand one cache entry to the connector (the cache owns retries and ordering)."""
        connector = self.connector
        if connector is None or not self.started.is_set():
            raise SendError("connector not started", retry_forever=True)
        if entry.content_type == "any":
            await connector.handle_file(entry.content_path, entry.content_file)
        elif entry.content_type == "time-values":
            await connector.handle_values_json(await entry.read_content())
        elif entry.content_type in JSON_ARRAY_TYPES and entry.content_type in connector.manifest.types:
            await connector.handle_content(entry.content_type, await entry.read_content())
        else:
            raise SendError(f"content type {entry.content_type!r} cannot be sent by this connector")

    async def _send_files(self, entries: list[CacheEntry]) -> None:
        """Hand several raw-file entries to a connector that delivers batches more cheaply."""
        connector = self.connector
        if connector is None or not self.started.is_set():
            raise SendError("connector not started", retry_forever=True)
        await connector.handle_files([(entry.content_path, entry.content_file) for entry in entries])

    async def run(self) -> None:
        """Open the cache (so content can be stored at once), start the connector, and send."""
        await self.cache.open()
        self._cache_ready.set()
        async with asyncio.TaskGroup() as group:
            group.create_task(self.cache.run(), name=f"{self.connector_id}:cache-send")
            housekeeping = group.create_task(self._housekeeping(), name=f"{self.connector_id}:housekeeping")
            starter = group.create_task(self.start_with_backoff(), name=f"{self.connector_id}:start")
            await self._stop_event.wait()
            starter.cancel()
            housekeeping.cancel()
            await self.cache.close()
        self.send_metrics()

    async def _housekeeping(self) -> None:
        elapsed = 0.0
        while True:
            await asyncio.sleep(METRICS_INTERVAL_S)
            elapsed += METRICS_INTERVAL_S
            self.send_metrics()
            if elapsed >= RETENTION_INTERVAL_S:
                elapsed = 0.0
                await self.cache.apply_retention()

    def on_trigger(self, scan_mode_id: str) -> None:
        """A cron tick: the cache sends if it is its trigger."""
        self.cache.trigger(scan_mode_id)

    async def on_message(self, message: Message) -> None:
        """Store each content durably, then answer; several stores share one group commit."""
        if not isinstance(message, Content):
            return
        task = asyncio.create_task(self._store(message), name=f"{self.connector_id}:store")
        self._stores.add(task)
        task.add_done_callback(self._stores.discard)

    async def _store(self, content: Content) -> None:
        await self._cache_ready.wait()
        if content.error is not None:
            # Logged here, under this North's scope: the operator finds it beside the entry it explains.
            self.logger.error(
                "transformer failed: content kept in the error cache", error=content.error, source=content.source_id
            )
        try:
            entries = content_entries(content)
            # Several files of one frame are answered for together: refused if any of them was.
            reason = next((why for why in await self.cache.store(entries) if why is not None), None)
        except Exception as err:
            reason = f"cache store failed: {err}"
        self.channel.send(Stored(seq=content.seq) if reason is None else Refused(seq=content.seq, reason=reason))

    async def reconfigure(self) -> None:
        """New caching settings apply live; new connector settings restart the connector."""
        self.cache.update_settings(self._caching())
        await super().reconfigure()

    async def stop(self) -> None:
        """Answer every content already received, stop the connector, then close the cache."""
        await super().stop()
        if self._stores:
            await asyncio.gather(*self._stores, return_exceptions=True)
        await self.stop_connector()
        self._stop_event.set()
