"""The North disk cache of one North worker: durable store, send loop, retention, metrics, operator actions.

Layout under the data folder ``D`` for North ``N`` (upstream's): ``D/cache/north-N/{content,metadata,tmp}``,
``D/error/north-N/{content,metadata}``, ``D/archive/north-N/{content,metadata}``; an entry is a content
file and a metadata file with the same random 12-character name. Typical use in a worker::

    async with NorthCache(data_dir, north_id, caching, send=..., supported_types=..., logger=log) as cache:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(cache.run(), name=f"{north_id}:cache-send")
            ...  # cache.store([...]) per content frame, cache.trigger(scan_mode_id) per cron tick

Only stdlib, msgspec and ``connectors.errors`` are imported: this runs inside worker processes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from engine.cache.north.commit import RefusalHook
from engine.cache.north.sender import BatchSendCallback, NorthSender, SendCallback
from engine.cache.north.store import NorthStore
from engine.cache.north.types import (
    JSON_ARRAY_TYPES,
    CacheEntry,
    CacheLogger,
    CacheMetadata,
    Folder,
    NewEntry,
)
from engine.cache.settings import CachingSettings

__all__ = [
    "JSON_ARRAY_TYPES",
    "BatchSendCallback",
    "CacheEntry",
    "CacheLogger",
    "CacheMetadata",
    "Folder",
    "NewEntry",
    "NorthCache",
    "NorthSender",
    "NorthStore",
    "RefusalHook",
    "SendCallback",
]


class NorthCache:
    """One North's cache: ``store()`` durably, ``run()`` sends, ``close()`` stops.

    ``folder_name`` defaults to ``north-<id>``; a history query passes ``history-<id>/north``.
    ``coalesce`` folds the JSON-array entries stored by one group commit into one cache entry per
    content type (up to ``maxNumberOfElements``): what send-time compaction would do anyway, at a
    fraction of the file operations. ``send_batch`` delivers up to ``max_batch`` raw files queued one
    after the other in one call (see :class:`NorthSender`).
    """

    def __init__(
        self,
        data_folder: Path,
        north_id: str,
        settings: CachingSettings,
        *,
        send: SendCallback,
        supported_types: Collection[str],
        logger: CacheLogger,
        send_batch: BatchSendCallback | None = None,
        max_batch: int = 64,
        on_refused: RefusalHook | None = None,
        folder_name: str | None = None,
        io_threads: int = 8,
        delete_threads: int = 1,
        coalesce: bool = True,
        syncfs: bool | None = None,
    ) -> None:
        self.settings = settings
        self.storage = NorthStore(
            data_folder,
            folder_name or f"north-{north_id}",
            logger=logger,
            max_size_mb=settings.throttling.max_size,
            on_refused=on_refused,
            io_threads=io_threads,
            delete_threads=delete_threads,
            coalesce=coalesce,
            syncfs=syncfs,
        )
        self.storage.set_max_elements(settings.throttling.max_number_of_elements)
        self.sender = NorthSender(
            self.storage,
            settings,
            send=send,
            supported_types=supported_types,
            logger=logger,
            send_batch=send_batch,
            max_batch=max_batch,
        )
        self.storage.on_stored = self.sender.check_thresholds

    async def __aenter__(self) -> NorthCache:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Create the folders, recover from a crash, and load the queue."""
        await self.storage.open()

    async def close(self) -> None:
        """Stop the send loop, then finish pending stores and release the I/O threads."""
        await self.sender.close()
        await self.storage.close()

    async def store(self, entries: list[NewEntry]) -> list[str | None]:
        """Store entries durably (group commit); per entry None, or why it was refused."""
        return await self.storage.store(entries)

    async def run(self) -> None:
        """Run the send loop until :meth:`close`."""
        await self.sender.run()

    def trigger(self, scan_mode_id: str) -> bool:
        """Handle a scan mode's cron tick; True when it is this cache's trigger."""
        return self.sender.trigger(scan_mode_id)

    def drain(self) -> None:
        """Send every queued entry now, below the thresholds and between ticks (see ``NorthSender.drain``)."""
        self.sender.drain()

    def update_settings(self, settings: CachingSettings) -> None:
        """Apply new ``caching`` settings to the running cache."""
        self.settings = settings
        self.storage.set_max_size(settings.throttling.max_size)
        self.storage.set_max_elements(settings.throttling.max_number_of_elements)
        self.sender.update_settings(settings)

    async def apply_retention(self, *, now: float | None = None) -> int:
        """Delete ``error/`` and ``archive/`` entries older than their retention (hours; 0 = forever).

        Age is the metadata file's mtime, which a move into those folders resets. Schedule it hourly.
        """
        removed = await self.storage.expire("error", self.settings.error.retention_duration, now=now)
        removed += await self.storage.expire("archive", self.settings.archive.retention_duration, now=now)
        return removed

    def metrics(self) -> dict[str, Any]:
        """North cache metrics (upstream names; sizes in bytes, durations in ms)."""
        sizes = self.storage.sizes()
        sender = self.sender
        return {
            "currentCacheSize": sizes["cache"],
            "currentErrorSize": sizes["error"],
            "currentArchiveSize": sizes["archive"],
            "contentCachedSize": self.storage.content_cached_size,
            "contentSentSize": sender.content_sent_size,
            "contentErroredSize": sender.content_errored_size,
            "contentArchivedSize": sender.content_archived_size,
            "numberOfQueuedElements": self.storage.queued_elements,
            "numberOfQueuedFiles": self.storage.queued_files,
            "refusedCount": self.storage.refusals.count,
            "refusedSize": self.storage.refusals.size,
            "lastContentSent": sender.last_content_sent,
            "lastRunStart": sender.last_run_start,
            "lastRunDuration": sender.last_run_duration,
        }

    def queued(self) -> list[CacheEntry]:
        """Return the queue in send order."""
        return self.storage.queued()

    async def search(
        self,
        folder: Folder,
        *,
        name_contains: str | None = None,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        max_results: int = 1000,
    ) -> list[CacheEntry]:
        """List entries of a folder by name fragment and ``createdAt`` range (``start <= t < end``)."""
        return await self.storage.search(
            folder, name_contains=name_contains, start=start, end=end, max_results=max_results
        )

    async def remove(self, folder: Folder, names: Iterable[str]) -> int:
        """Delete entries; return how many were removed."""
        return await self.storage.remove(folder, names)

    async def move(self, from_folder: Folder, names: Iterable[str], to_folder: Folder) -> int:
        """Move entries between folders (moving into ``cache`` queues them again)."""
        moved = await self.storage.move(from_folder, names, to_folder)
        if to_folder == "cache" and moved:
            self.sender.check_thresholds()
        return moved

    async def clear_all(self) -> int:
        """Delete every entry of cache, error and archive."""
        return await self.storage.clear_all()
