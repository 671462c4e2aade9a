"""The North cache store: the send queue over the disk folders, sizes, compaction, moves, recovery."""

from __future__ import annotations

import asyncio
import random
import string
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from engine.cache.north.commit import GroupCommitter, RefusalHook, RefusalLog, SizeBook
from engine.cache.north.disk import NorthDisk, WriteJob
from engine.cache.north.merge import Gathered, Merge, gather, merge, merge_job, write_durably
from engine.cache.north.reaper import Reaper
from engine.cache.north.types import (
    FOLDERS,
    CacheEntry,
    CacheLogger,
    Folder,
    NewEntry,
    format_instant,
    iso_now,
)

T = TypeVar("T")

_NAME_ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase
"""In ASCII order, so that names built from increasing numbers sort in that order."""
_STAMP_CHARS = 9
"""Name characters that encode the creation stamp (microseconds: 62**9 of them last four centuries)."""
_MB = 1024 * 1024


class NorthStore:
    """Entries of one North on disk, and the in-memory queue of those waiting to be sent.

    ``store()`` calls made while a group commit is in flight are gathered into the next one, so many
    concurrent callers share the directory fsyncs. Queue mutations other than appends go through one
    lock, so compaction, post-send moves and operator actions never interleave. Sent entries leave the
    queue at once and are unlinked in the background (:class:`Reaper`), on threads of their own.
    """

    def __init__(
        self,
        data_folder: Path,
        folder_name: str,
        *,
        logger: CacheLogger,
        max_size_mb: int = 0,
        on_refused: RefusalHook | None = None,
        io_threads: int = 8,
        delete_threads: int = 1,
        coalesce: bool = True,
        syncfs: bool | None = None,
    ) -> None:
        self.disk = NorthDisk(data_folder, folder_name)
        self._logger = logger
        self._io_threads = max(2, io_threads)
        self._delete_threads = max(1, delete_threads)
        self._sizes = SizeBook()
        self.set_max_size(max_size_mb)
        self.refusals = RefusalLog(logger, on_refused)
        self.committer = GroupCommitter(self.disk, self._sizes, self._group_done, coalesce=coalesce, syncfs=syncfs)
        self.on_stored: Callable[[], None] | None = None
        """Called (on the loop) after each group commit that stored something: threshold checks."""

        self._queue: OrderedDict[str, CacheEntry] = OrderedDict()
        self._by_type: dict[str, OrderedDict[str, CacheEntry]] = {}
        self._queued_elements = 0
        self._queued_files = 0
        self._others: dict[Folder, dict[str, int]] = {"error": {}, "archive": {}}
        self._names: set[str] = set()
        self.reaper = Reaper(self.disk, self._sizes, self._names, logger)
        self._lock = asyncio.Lock()
        self._random = random.Random()
        self._last_stamp = 0
        self._io_futures: set[asyncio.Future[Any]] = set()
        self._io_pool: ThreadPoolExecutor | None = None
        self._commit_pool: ThreadPoolExecutor | None = None
        self._delete_pool: ThreadPoolExecutor | None = None
        self._closing = False
        self.content_cached_size = 0

    # -- lifecycle ----------------------------------------------------------------------------------

    async def open(self) -> None:
        """Create the folders, repair what a crash left, and load the queue and folder sizes."""
        if self._io_pool is not None:
            raise RuntimeError("the North cache is already open")
        loop = asyncio.get_running_loop()
        self._io_pool = ThreadPoolExecutor(self._io_threads, thread_name_prefix="north-cache-io")
        self._commit_pool = ThreadPoolExecutor(1, thread_name_prefix="north-cache-commit")
        self._delete_pool = ThreadPoolExecutor(self._delete_threads, thread_name_prefix="north-cache-delete")
        self.committer.start(self._commit_pool, self._io_pool)
        self.reaper.start(self._delete_pool, self._delete_threads)
        try:
            report = await loop.run_in_executor(self._commit_pool, self.disk.recover)
        except BaseException:
            # Leave no threads behind when the folders cannot be opened.
            await self.close()
            raise
        if report.tmp_removed or report.orphan_contents or report.dangling_metadata:
            self._logger.info(
                "cache recovered from an interrupted write",
                tmp_removed=report.tmp_removed,
                orphan_contents=report.orphan_contents,
                dangling_metadata=report.dangling_metadata,
            )
        for folder, name, problem in report.unparsable:
            self._logger.error(
                "unparsable cache metadata: entry kept in the error folder with metadata rebuilt from its content",
                folder=folder,
                entry=name,
                error=problem,
            )
        for name, problem in report.mismatched:
            self._logger.error("damaged cache content moved to the error folder", entry=name, problem=problem)
        for folder, name, problem in report.unreadable:
            self._logger.error("unreadable cache metadata skipped", folder=folder, entry=name, error=problem)
        for entry in report.entries["cache"]:
            self._enqueue(entry)
        for folder in ("error", "archive"):
            self._others[folder] = {e.name: e.disk_size for e in report.entries[folder]}
        for folder in FOLDERS:
            sizes = (e.disk_size for e in report.entries[folder])
            self._sizes.add(folder, sum(sizes))
            self._names.update(e.name for e in report.entries[folder])

    async def close(self) -> None:
        """Finish the group commits and deletions under way, then stop the I/O threads."""
        if self._closing:
            return
        self._closing = True
        await self.committer.drain()
        await self.reaper.drain()
        if self._io_futures:
            await asyncio.gather(*self._io_futures, return_exceptions=True)
        for pool in (self._commit_pool, self._io_pool, self._delete_pool):
            if pool is not None:
                pool.shutdown(wait=True)

    def set_max_size(self, max_size_mb: int) -> None:
        """Apply ``caching.throttling.max_size`` (MB over cache+error+archive; 0 = unlimited)."""
        self._sizes.limit = max_size_mb * _MB

    def set_max_elements(self, max_elements: int) -> None:
        """Apply ``caching.throttling.max_number_of_elements`` to entries coalesced at store time."""
        self.committer.max_elements = max_elements

    # -- storing ------------------------------------------------------------------------------------

    async def store(self, entries: Sequence[NewEntry]) -> list[str | None]:
        """Store entries durably; per entry, None once stored or the reason it was refused.

        Returns after the entries' files and both directories are fsynced. A refused entry leaves
        nothing behind. Entries of one call get the same ``createdAt`` and keep their order.
        """
        if self._closing or self._commit_pool is None:
            raise RuntimeError("the North cache is not open")
        if not entries:
            return []
        created_at = iso_now()
        jobs = [WriteJob(name=self._new_name(), entry=e, created_at=created_at) for e in entries]
        return await self.committer.commit(jobs)

    def _group_done(self, jobs: list[WriteJob], error: BaseException | None) -> None:
        """Loop side of a group commit: queue what was stored, report what was refused."""
        stored = False
        for job in jobs:
            if error is None and job.result is not None and job.result.folder == "error":
                # Kept for an operator, not sent: counted in ``error``, never queued.
                self._sizes.add("cache", -job.result.disk_size)
                self._sizes.add("error", job.result.disk_size)
                self._others["error"][job.name] = job.result.disk_size
                continue
            if error is None and job.result is not None:
                self._enqueue(job.result)
                self.content_cached_size += job.result.content_size
                stored = True
                continue
            # Folded into another entry, refused, or broken by an error: this name is not used.
            self._names.discard(job.name)
            if error is None and job.unit.result is None:
                self.refusals.note(job, self._sizes.limit)
        if stored:
            self.refusals.stored()
        if stored and self.on_stored is not None:
            try:
                self.on_stored()
            except Exception as err:
                self._logger.error("cache store hook failed", error=repr(err))

    def _new_name(self) -> str:
        """A new 12-character entry name; names made later sort after those made earlier.

        The queue is ordered by ``createdAt`` then name, in memory and when rebuilt at start. Stores a
        millisecond apart share a ``createdAt``, so the names keep them in the order they were made.
        """
        while True:
            self._last_stamp = max(time.time_ns() // 1000, self._last_stamp + 1)
            stamp, digits = self._last_stamp, []
            for _ in range(_STAMP_CHARS):
                stamp, digit = divmod(stamp, 62)
                digits.append(_NAME_ALPHABET[digit])
            name = "".join([*reversed(digits), *self._random.choices(_NAME_ALPHABET, k=12 - _STAMP_CHARS)])
            if name not in self._names:
                self._names.add(name)
                return name

    # -- the queue ----------------------------------------------------------------------------------

    def _enqueue(self, entry: CacheEntry, *, front: bool = False) -> None:
        self._queue[entry.name] = entry
        same_type = self._by_type.setdefault(entry.content_type, OrderedDict())
        same_type[entry.name] = entry
        if front:
            self._queue.move_to_end(entry.name, last=False)
            same_type.move_to_end(entry.name, last=False)
        self._queued_elements += entry.number_of_element
        self._queued_files += entry.number_of_element == 0

    def _dequeue(self, name: str) -> CacheEntry | None:
        entry = self._queue.pop(name, None)
        if entry is None:
            return None
        same_type = self._by_type[entry.content_type]
        del same_type[name]
        if not same_type:
            del self._by_type[entry.content_type]
        self._queued_elements -= entry.number_of_element
        self._queued_files -= entry.number_of_element == 0
        return entry

    def head(self) -> CacheEntry | None:
        """Return the entry to send next, if any."""
        return next(iter(self._queue.values()), None)

    def queued(self) -> list[CacheEntry]:
        """Return a snapshot of the queue in send order."""
        return list(self._queue.values())

    @property
    def queued_elements(self) -> int:
        """Sum of ``numberOfElement`` over the queue."""
        return self._queued_elements

    @property
    def queued_files(self) -> int:
        """Queued entries with no elements (raw files)."""
        return self._queued_files

    def sizes(self) -> dict[Folder, int]:
        """Bytes (content + metadata) per folder, including writes under way."""
        return self._sizes.snapshot()

    # -- sender operations --------------------------------------------------------------------------

    async def compact(self, head: CacheEntry, max_elements: int) -> tuple[CacheEntry, Merge | None]:
        """Merge queued entries of ``head``'s type into it, up to ``max_elements`` (0 = no limit).

        Returns the new head (the merged entry, or ``head`` when nothing was merged).
        """
        async with self._lock:
            candidates = self._merge_candidates(head, max_elements)
            if not candidates:
                return head, None
            names = (self._new_name(), self._new_name())
            write: Callable[[WriteJob], None] = self.committer.write
            work = partial(merge, self.disk, head, candidates, max_elements, names, write)
            try:
                result = await self._run_io(work)
            except OSError as err:
                self._names.difference_update(names)
                self._logger.error("cache compaction failed", entry=head.name, error=str(err))
                return head, None
            if result is None:
                self._names.difference_update(names)
                return head, None
            if result.remainder is None:
                self._names.discard(names[1])
            for entry in result.consumed:
                self._dequeue(entry.name)
                self._names.discard(entry.name)
                self._sizes.add("cache", -entry.disk_size)
            self._sizes.add("cache", result.merged.disk_size)
            if result.remainder is not None:
                self._sizes.add("cache", result.remainder.disk_size)
                self._enqueue(result.remainder, front=True)
            self._enqueue(result.merged, front=True)
            self._log_skipped(result.skipped)
            return result.merged, result

    def _merge_candidates(self, head: CacheEntry, max_elements: int) -> list[CacheEntry]:
        """Queued entries of ``head``'s type to merge into it (up to ``max_elements``); empty if none."""
        same_type = self._by_type.get(head.content_type)
        if self._queue.get(head.name) is not head or same_type is None:
            return []
        candidates: list[CacheEntry] = []
        total = head.number_of_element
        for entry in same_type.values():
            if entry is head:
                continue
            candidates.append(entry)
            total += entry.number_of_element
            if max_elements and total >= max_elements:
                break
        return candidates

    def _log_skipped(self, skipped: list[str]) -> None:
        for name in skipped:
            self._logger.warning("unreadable cache entry left out of compaction", entry=name)

    async def gather(self, head: CacheEntry, max_elements: int) -> Gathered | None:
        """What :meth:`compact` would merge into ``head``, merged in memory only (None: nothing to merge).

        Nothing changes on disk or in the queue: send ``gathered.entry``, then :meth:`finish_gathered`.
        Compared with compaction, this saves writing, flushing, renaming and later deleting the merged
        entry; a failed send compacts for real, so that retries and ``error/`` work on a real entry.
        """
        candidates = self._merge_candidates(head, max_elements)
        if not candidates:
            return None
        gathered = await self._run_io(partial(gather, head, candidates, max_elements))
        if gathered is not None:
            self._log_skipped(gathered.skipped)
        return gathered

    async def finish_gathered(self, gathered: Gathered) -> None:
        """After a successful send of gathered entries: delete them (the part of one that was not sent stays).

        The unsent elements of a partly sent entry are written as a new entry in its place before it is
        deleted; if that fails, the whole entry stays (its sent part goes again: a duplicate, not a loss).
        """
        async with self._lock:
            done = [entry for entry in gathered.consumed if self.is_queued(entry)]
            rest_of = gathered.rest_of
            if rest_of is not None and rest_of in done:
                done.remove(rest_of)
                name = self._new_name()
                job = merge_job(name, rest_of, gathered.rest, gathered.rest_count)
                write: Callable[[WriteJob], None] = self.committer.write
                try:
                    await self._run_io(partial(write_durably, self.disk, [job], write))
                except OSError as err:
                    self._names.discard(name)
                    self._logger.error("cache compaction failed", entry=rest_of.name, error=str(err))
                else:
                    assert job.result is not None
                    self._sizes.add("cache", job.result.disk_size)
                    # At the front, where compaction puts what is left of a partly merged entry.
                    self._enqueue(job.result, front=True)
                    done.append(rest_of)
            for entry in done:
                self._dequeue(entry.name)
            if done:
                self.reaper.add(done)

    def run_of(self, head: CacheEntry, content_type: str, limit: int) -> list[CacheEntry]:
        """``head`` and the queued entries right after it, while they are of ``content_type`` (``limit`` at most).

        Empty when ``head`` is no longer the head of the queue or not of that type.
        """
        run: list[CacheEntry] = []
        for entry in self._queue.values():
            if entry.content_type != content_type or len(run) >= limit or (not run and entry is not head):
                break
            run.append(entry)
        return run

    def is_queued(self, entry: CacheEntry) -> bool:
        """Whether ``entry`` still waits in the queue."""
        return self._queue.get(entry.name) is entry

    async def finish(self, entries: Sequence[CacheEntry], *, archive: bool) -> list[CacheEntry]:
        """After a successful send: archive or delete ``entries``; return those that went to ``archive/``.

        Entries that had left the queue meanwhile (an operator action) are left alone. Deleted entries
        leave the queue at once and their files are unlinked in the background: a send never waits for
        the disk here.
        """
        async with self._lock:
            done = [entry for entry in dict.fromkeys(entries) if self.is_queued(entry)]
            archived: set[str] = set()
            if archive and done:
                archived = set(await self._move_locked([entry.name for entry in done], "cache", "archive"))
            # Sent: even when archiving failed, an entry must leave the queue or it would be sent again.
            deleted = [entry for entry in done if entry.name not in archived and self._dequeue(entry.name)]
            if deleted:
                self.reaper.add(deleted)
            return [entry for entry in done if entry.name in archived]

    async def move_to_error(self, entry: CacheEntry) -> bool:
        """Move a failed (or unsendable) entry from the queue to ``error/``."""
        return await self.move("cache", [entry.name], "error") == 1

    # -- operator operations ------------------------------------------------------------------------

    async def search(
        self,
        folder: Folder,
        *,
        name_contains: str | None = None,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        max_results: int = 1000,
    ) -> list[CacheEntry]:
        """Entries of ``folder`` whose name contains ``name_contains`` and ``start <= createdAt < end``.

        Sorted by ``createdAt``; at most ``max_results`` (0 = all).
        """
        low = format_instant(start) if isinstance(start, datetime) else start
        high = format_instant(end) if isinstance(end, datetime) else end
        if folder == "cache":
            entries = [e for e in self._queue.values() if not name_contains or name_contains in e.name]
        else:
            names = [n for n in self._others[folder] if not name_contains or name_contains in n]
            entries = await self._run_io(partial(self.disk.read_metadata, folder, names))
        entries = [e for e in entries if (low is None or e.created_at >= low) and (high is None or e.created_at < high)]
        entries.sort(key=lambda e: (e.created_at, e.name))
        return entries[:max_results] if max_results else entries

    async def remove(self, folder: Folder, names: Iterable[str]) -> int:
        """Delete entries of ``folder``; return how many were removed."""
        async with self._lock:
            present = [name for name in dict.fromkeys(names) if self._holds(folder, name)]
            return await self._delete_locked(folder, present) if present else 0

    async def move(self, source: Folder, names: Iterable[str], target: Folder) -> int:
        """Move entries between folders (into ``cache`` they are queued again); return how many moved."""
        if source == target:
            return 0
        async with self._lock:
            present = [name for name in dict.fromkeys(names) if self._holds(source, name)]
            return len(await self._move_locked(present, source, target)) if present else 0

    async def clear_all(self) -> int:
        """Delete every entry of every folder; return how many went."""
        removed = 0
        for folder in FOLDERS:
            names = list(self._queue) if folder == "cache" else list(self._others[folder])
            removed += await self.remove(folder, names)
        return removed

    async def expire(self, folder: Folder, hours: int, *, now: float | None = None) -> int:
        """Delete entries of ``error``/``archive`` whose metadata mtime is older than ``hours``."""
        if hours <= 0 or folder == "cache":
            return 0
        cutoff = (time.time() if now is None else now) - hours * 3600
        names = list(self._others[folder])
        old = await self._run_io(partial(self.disk.expired, folder, names, cutoff))
        return await self.remove(folder, old) if old else 0

    # -- helpers (called with the lock held) --------------------------------------------------------

    def _holds(self, folder: Folder, name: str) -> bool:
        return name in (self._queue if folder == "cache" else self._others[folder])

    def _forget(self, folder: Folder, name: str) -> int:
        """Drop an entry from memory; return its size on disk."""
        if folder == "cache":
            entry = self._dequeue(name)
            return entry.disk_size if entry is not None else 0
        return self._others[folder].pop(name, 0)

    async def _delete_locked(self, folder: Folder, names: list[str]) -> int:
        # Memory changes only once the disk did, so metrics and queue never show a half-done state.
        try:
            deleted = await self._run_io(partial(self.disk.delete, folder, names))
        finally:
            # Whatever the outcome the entries are forgotten: files that resisted come back at next start.
            for name in names:
                self._sizes.add(folder, -self._forget(folder, name))
                self._names.discard(name)
        return len(deleted)

    async def _move_locked(self, names: list[str], source: Folder, target: Folder) -> list[str]:
        """Move entries on disk and in memory; return the names moved."""
        try:
            moved = await self._run_io(partial(self.disk.move, names, source, target))
        except OSError as err:
            # The disk is consistent (see NorthDisk.move); memory catches up at the next start.
            self._logger.error("cache move failed", source=source, target=target, error=str(err))
            return []
        requeue: list[CacheEntry] = []
        for name, metadata in moved:
            size = self._forget(source, name)
            self._sizes.add(source, -size)
            self._sizes.add(target, size)
            if target == "cache":
                requeue.append(self.disk.entry("cache", name, metadata, size))
            else:
                self._others[target][name] = size
        if requeue:
            self._requeue(requeue)
        return [name for name, _ in moved]

    def _requeue(self, entries: list[CacheEntry]) -> None:
        """Put entries back into the queue at their ``createdAt`` place."""
        merged = sorted([*self._queue.values(), *entries], key=lambda e: (e.created_at, e.name))
        self._queue.clear()
        self._by_type.clear()
        self._queued_elements = self._queued_files = 0
        for entry in merged:
            self._enqueue(entry)

    async def _run_io(self, work: Callable[[], T]) -> T:
        assert self._io_pool is not None
        future = asyncio.get_running_loop().run_in_executor(self._io_pool, work)
        self._io_futures.add(future)
        future.add_done_callback(self._io_futures.discard)
        return await future
