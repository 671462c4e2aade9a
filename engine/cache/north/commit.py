"""Group commit of new North cache entries, with ``maxSize`` admission and refusal reporting.

``store()`` calls made while a group is being committed wait together for the next group. On Linux a
group writes its entries without fsync, makes them all durable with one ``syncfs`` (one device flush
instead of two fsyncs per entry), then renames them into place; elsewhere, or while ``syncfs`` is slow
because of other programs, each entry is written and fsynced in parallel threads. Either way the two cache
directories are fsynced once per group, however many entries it holds.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

from engine.cache.north.disk import NorthDisk, WriteJob
from engine.cache.north.files import HAS_SYNCFS, fsync_dir, fsync_file, sync_filesystem
from engine.cache.north.merge import coalesce
from engine.cache.north.types import FOLDERS, CacheLogger, Folder

RefusalHook = Callable[[str, int], None]
"""Called for every refused entry with the reason and the content bytes refused."""

GroupHandler = Callable[[list[WriteJob], BaseException | None], None]
"""Called on the loop when a group is done (with the error that broke it, if any)."""

_WARN_EVERY_S = 60.0
SLOW_SYNCFS_S = 0.5
"""A syncfs slower than this (other programs' dirty data on the same filesystem) pauses its use."""
SYNCFS_PAUSE_S = 60.0


class SizeBook:
    """Bytes (content + metadata) per folder, and the ``maxSize`` limit over all three.

    Commit threads reserve space here while the loop records moves and deletions, hence the lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.limit = 0
        self._by_folder: dict[Folder, int] = dict.fromkeys(FOLDERS, 0)

    def reserve(self, size: int) -> bool:
        """Count ``size`` more bytes in ``cache`` unless that would pass the limit."""
        with self._lock:
            if self.limit and sum(self._by_folder.values()) + size > self.limit:
                return False
            self._by_folder["cache"] += size
            return True

    def release(self, size: int) -> None:
        """Give back bytes reserved in ``cache``."""
        self.add("cache", -size)

    def add(self, folder: Folder, size: int) -> None:
        """Count ``size`` bytes more (or fewer, when negative) in ``folder``."""
        with self._lock:
            self._by_folder[folder] += size

    def snapshot(self) -> dict[Folder, int]:
        """Return the current bytes per folder."""
        with self._lock:
            return dict(self._by_folder)


class RefusalLog:
    """Counts every refusal, calls the hook, and warns at most once a minute per kind of refusal."""

    def __init__(self, logger: CacheLogger, hook: RefusalHook | None) -> None:
        self._logger = logger
        self._hook = hook
        self.count = 0
        self.size = 0
        self._last_warning: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._disk_full = False

    def stored(self) -> None:
        """An entry was stored: a full-disk episode, if one was going on, is over."""
        if self._disk_full:
            self._disk_full = False
            self._logger.info("cache stores again: space was freed on the data folder's disk")

    def note(self, job: WriteJob, limit: int) -> None:
        """Record one refused entry."""
        kind = job.reason_kind or "refused"
        self.count += 1
        self.size += job.refused_size
        if self._hook is not None:
            try:
                self._hook(job.reason or kind, job.refused_size)
            except Exception as err:
                self._logger.error("cache refusal hook failed", error=repr(err))
        if kind == "no_space":
            # One warning per episode (with the free space), however long the disk stays full.
            if not self._disk_full:
                self._disk_full = True
                self._logger.warning("no space left on the data folder's disk", reason=job.reason)
            return
        now = time.monotonic()
        last = self._last_warning.get(kind)
        if last is not None and now - last < _WARN_EVERY_S:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return
        self._last_warning[kind] = now
        self._logger.warning(
            "cache entry refused",
            reason=job.reason,
            content_type=job.entry.content_type,
            size=job.refused_size,
            max_size=limit,
            refused_count=self.count,
            suppressed_since_last_warning=self._suppressed.pop(kind, 0),
        )


@dataclass(slots=True)
class _Batch:
    jobs: list[WriteJob]
    future: asyncio.Future[list[str | None]]


def _accept(size: int) -> bool:
    return True


def _ignore(size: int) -> None:
    return None


class GroupCommitter:
    """Writes batches of new entries durably, one group at a time, gathering the batches that wait."""

    def __init__(
        self,
        disk: NorthDisk,
        sizes: SizeBook,
        on_group: GroupHandler,
        *,
        coalesce: bool = True,
        syncfs: bool | None = None,
    ) -> None:
        self._disk = disk
        self.coalesce = coalesce
        self.syncfs = HAS_SYNCFS if syncfs is None else syncfs and HAS_SYNCFS
        """Make a group durable with one ``syncfs`` rather than two fsyncs per entry (Linux)."""
        self.slow_syncfs = 0
        """Groups whose syncfs took more than ``SLOW_SYNCFS_S`` (each pauses syncfs for a minute)."""
        self._syncfs_paused_until = float("-inf")
        """Fold each group's JSON-array entries together (see :func:`coalesce`)."""
        self.max_elements = 0
        """``caching.throttling.max_number_of_elements``: the size limit of a folded entry."""
        self._sizes = sizes
        self._on_group = on_group
        self._pending: list[_Batch] = []
        self._inflight = False
        self._idle = asyncio.Event()
        self._idle.set()
        self._commit_pool: ThreadPoolExecutor | None = None
        self._io_pool: ThreadPoolExecutor | None = None
        self.groups_committed = 0
        """Group commits so far (each fsyncs the two cache directories once)."""

    def start(self, commit_pool: ThreadPoolExecutor, io_pool: ThreadPoolExecutor) -> None:
        """Use these threads: one coordinating groups, several writing entries."""
        self._commit_pool, self._io_pool = commit_pool, io_pool

    async def commit(self, jobs: list[WriteJob]) -> list[str | None]:
        """Write ``jobs`` in the next group; per job None once durable, or why it was refused."""
        future: asyncio.Future[list[str | None]] = asyncio.get_running_loop().create_future()
        self._pending.append(_Batch(jobs, future))
        self._kick()
        return await future

    async def drain(self) -> None:
        """Wait until no group is pending or in flight."""
        await self._idle.wait()

    def write(self, job: WriteJob) -> None:
        """Write one entry to ``cache/`` (directories not fsynced); runs in a thread."""
        if job.admit:
            self._disk.write(job, self._sizes.reserve, self._sizes.release)
        else:
            # Compaction output replaces entries already counted: the caller accounts for it.
            self._disk.write(job, _accept, _ignore)

    def _write_one(self, job: WriteJob) -> None:
        """Write one entry with its two files flushed at the same time, then rename it into ``cache/``.

        A group often holds a single entry (the JSON arrays of a group are folded into one): flushing its
        content and its metadata in parallel saves a whole disk round trip on the way to ``stored``.
        """
        release = self._sizes.release if job.admit else _ignore
        if not self._disk.stage(job, self._sizes.reserve if job.admit else _accept, self._sizes.release, sync=False):
            return
        assert job.staged is not None
        content, metadata, _ = job.staged
        try:
            wait_content = self._in_parallel(lambda: fsync_file(content))
            try:
                fsync_file(metadata)
            finally:
                wait_content()
        except OSError as err:
            self._disk.drop_staged(job, release, err)
            return
        self._disk.publish(job, release)

    def _write_all_then_sync(self, units: list[WriteJob]) -> None:
        """Stage every entry without fsync, make them all durable with one syncfs, then rename them in.

        Same order as per-entry fsyncs: the files are durable before any rename. ``syncfs`` flushes the
        disk cache before writing the last metadata blocks (ext4 without a journal), so the fsync of
        ``tmp/`` after it is the barrier that makes those durable too before the renames.
        """
        for job in units:
            self._disk.stage(job, self._sizes.reserve if job.admit else _accept, self._sizes.release, sync=False)
        staged = [job for job in units if job.staged is not None]
        if not staged:
            return
        started = time.monotonic()
        try:
            sync_filesystem(self._disk.tmp)
            fsync_dir(self._disk.tmp)
        except OSError as err:
            for job in staged:
                self._disk.drop_staged(job, self._sizes.release if job.admit else _ignore, err)
            return
        if time.monotonic() - started > SLOW_SYNCFS_S:
            # Probably other programs' data: fsync only ours for a while.
            self.slow_syncfs += 1
            self._syncfs_paused_until = time.monotonic() + SYNCFS_PAUSE_S
        for job in staged:
            self._disk.publish(job, self._sizes.release if job.admit else _ignore)

    def _kick(self) -> None:
        if self._inflight or not self._pending:
            return
        assert self._commit_pool is not None
        batches, self._pending = self._pending, []
        jobs = [job for batch in batches for job in batch.jobs]
        self._inflight = True
        self._idle.clear()
        done = asyncio.wrap_future(self._commit_pool.submit(self._commit_group, jobs))
        # A callback, not an awaiting task, finishes the group: a cancelled caller must not strand the
        # other callers of its group.
        done.add_done_callback(partial(self._group_done, batches, jobs))

    def _commit_group(self, jobs: list[WriteJob]) -> None:
        """Commit thread: write every entry (one syncfs, or fsyncs in parallel), then fsync the directories."""
        assert self._io_pool is not None
        own_sizes = {id(job): len(job.entry.payload or b"") for job in jobs}
        if self.coalesce and len(jobs) > 1:
            coalesce(jobs, self.max_elements)
        units = [job for job in jobs if job.stored_in is None]
        if len(units) == 1:
            self._write_one(units[0])
        elif self.syncfs and time.monotonic() >= self._syncfs_paused_until:
            self._write_all_then_sync(units)
        else:
            # Parallel writers let the filesystem share one journal commit among many fsyncs.
            for _ in self._io_pool.map(self.write, units):
                pass
        for folder in FOLDERS:
            written = [job for job in units if job.result is not None and job.entry.folder == folder]
            if written:
                self._sync_written(written, folder)
        for job in jobs:
            unit = job.unit
            if unit.result is None and job.entry.payload is not None:
                # Folded entries are refused together, each for its own bytes.
                size = own_sizes[id(job)] if unit.reason_kind == "cache_full" else 0
                job.refuse(unit.reason_kind or "write_failed", unit.reason or "cache write failed", size)

    def _sync_written(self, written: list[WriteJob], folder: Folder) -> None:
        """Fsync the directories the group renamed entries into; on failure those entries are undone."""
        try:
            self._disk.sync_cache_dirs(self._in_parallel, folder)
        except OSError as err:
            # Not durable, so not stored: undo, since the callers will be told so.
            self._disk.drop_written((job.name for job in written), folder)
            for job in written:
                self._sizes.release(job.reserved)
                job.result = None
                job.refuse("write_failed", f"cache write failed: {err}", 0)

    def _in_parallel(self, work: Callable[[], object]) -> Callable[[], object]:
        assert self._io_pool is not None
        future = self._io_pool.submit(work)
        return lambda: future.result()

    def _group_done(self, batches: list[_Batch], jobs: list[WriteJob], done: asyncio.Future[None]) -> None:
        self._inflight = False
        self.groups_committed += 1
        error = done.exception() if not done.cancelled() else asyncio.CancelledError()
        try:
            self._on_group(jobs, error)
        finally:
            for batch in batches:
                if batch.future.done():
                    continue
                if error is not None:
                    batch.future.set_exception(error)
                else:
                    batch.future.set_result([None if job.unit.result is not None else job.reason for job in batch.jobs])
            if self._pending:
                self._kick()
            else:
                self._idle.set()
