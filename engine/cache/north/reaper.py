"""Deletion of sent North cache entries in background batches, on threads of their own.

A sent entry leaves the queue at once (so it is never sent again while the process runs) and its files are
deleted later, many per batch, by a thread that no group commit can hold up (into the spare pool of
:class:`~engine.cache.north.disk.SparePool` while it has room). Until then the entry still counts in
``maxSize`` and its name stays reserved. A crash before the deletion leaves a complete entry in ``cache/``:
the next start queues it again and it is sent once more, a duplicate the durability contract allows.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from engine.cache.north.commit import SizeBook
from engine.cache.north.disk import NorthDisk
from engine.cache.north.types import CacheEntry, CacheLogger

MAX_BATCH = 256
"""Entries deleted per thread task."""


class Reaper:
    """Deletes the files of sent ``cache/`` entries, oldest first, ``MAX_BATCH`` at a time per thread."""

    def __init__(self, disk: NorthDisk, sizes: SizeBook, names: set[str], logger: CacheLogger) -> None:
        self._disk = disk
        self._sizes = sizes
        self._names = names
        self._logger = logger
        self._waiting: dict[str, CacheEntry] = {}
        """Entries to delete not yet handed to a thread."""
        self._inflight = 0
        self._batches = 0
        self._threads = 0
        self._pool: ThreadPoolExecutor | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self.unlinked = 0
        """Entries whose deletion was carried out so far."""

    def start(self, pool: ThreadPoolExecutor, threads: int) -> None:
        """Use ``threads`` threads of ``pool``."""
        self._pool, self._threads = pool, max(1, threads)

    @property
    def pending(self) -> int:
        """Entries that left the queue but whose files are not deleted yet."""
        return len(self._waiting) + self._inflight

    def add(self, entries: Iterable[CacheEntry]) -> None:
        """Schedule the deletion of entries that already left the queue (loop side)."""
        for entry in entries:
            self._waiting[entry.name] = entry
        self._kick()

    async def drain(self) -> None:
        """Wait until every scheduled deletion was carried out."""
        await self._idle.wait()

    def _kick(self) -> None:
        assert self._pool is not None
        # At most one batch per thread: entries finished meanwhile gather into the next batch.
        while self._waiting and self._batches < self._threads:
            batch = [self._waiting.pop(name) for name in list(itertools.islice(self._waiting, MAX_BATCH))]
            self._inflight += len(batch)
            self._batches += 1
            self._idle.clear()
            names = [entry.name for entry in batch]
            # Raw files may be links to a source file: only the contents the cache wrote itself are reused.
            own = frozenset(entry.name for entry in batch if entry.content_type != "any")
            work = partial(self._disk.delete, "cache", names, own_contents=own)
            done = asyncio.wrap_future(self._pool.submit(work))
            done.add_done_callback(partial(self._done, batch))

    def _done(self, batch: list[CacheEntry], done: asyncio.Future[list[str]]) -> None:
        self._inflight -= len(batch)
        self._batches -= 1
        error = None if done.cancelled() else done.exception()
        if error is not None:
            # What was not deleted comes back at the next start and is sent again: a duplicate, not a loss.
            self._logger.error("sent cache entries not deleted", entries=len(batch), error=str(error))
        # Forgotten whatever the outcome, as ``NorthStore.remove`` does: files that resisted come back later.
        for entry in batch:
            self._sizes.add("cache", -entry.disk_size)
            self._names.discard(entry.name)
        self.unlinked += len(batch)
        if self._waiting:
            self._kick()
        elif not self._inflight:
            self._idle.set()
