"""North cache: raw files sent in batches, sent entries deleted in the background, spare files reused."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from north_cache_support import (
    SCAN_MODE,
    SYNC_MODES,
    RecordingLogger,
    SendRecorder,
    caching,
    folder,
    make_cache,
    names_in,
    opened,
    running,
    settle,
    values,
    wait_until,
)

from connectors.errors import SendError
from engine.cache.north import CacheEntry, NewEntry, NorthCache
from engine.cache.north import disk as north_disk


def a_file(tmp_path: Path, name: str, body: bytes | None = None) -> NewEntry:
    path = tmp_path / "src" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(body if body is not None else name.encode())
    return NewEntry.file(path)


class BatchRecorder:
    """The ``send_batch`` callback: records each batch by logical names, fails on demand."""

    def __init__(self, fail: Callable[[list[CacheEntry]], BaseException | None] = lambda batch: None) -> None:
        self.fail = fail
        self.batches: list[list[str]] = []
        self.attempts = 0

    async def __call__(self, batch: list[CacheEntry]) -> None:
        self.attempts += 1
        await asyncio.sleep(0)
        error = self.fail(batch)
        if error is not None:
            raise error
        for entry in batch:
            assert entry.content_path.read_bytes() == entry.content_file.encode()
        self.batches.append([entry.content_file for entry in batch])


async def store_each(cache: NorthCache, entries: list[NewEntry]) -> None:
    """One entry per call, so each gets its own (later) createdAt."""
    for entry in entries:
        assert await cache.store([entry]) == [None]


def sent_files(send: SendRecorder, batches: BatchRecorder) -> list[str]:
    return [name for batch in batches.batches for name in batch] + [s.content_file for s in send.sent]


# -- batch sending ------------------------------------------------------------------------------------


async def test_consecutive_raw_files_go_in_batches_in_order(tmp_path: Path) -> None:
    send, batches = SendRecorder(), BatchRecorder()
    settings = caching(max_number_of_elements=1)
    cache = make_cache(tmp_path / "d", settings, send=send, send_batch=batches, max_batch=3)
    async with running(cache):
        await store_each(
            cache,
            [
                *(a_file(tmp_path, f"{i}.csv") for i in range(4)),
                NewEntry.time_values(values(1), 1),
                a_file(tmp_path, "4.csv"),
                NewEntry.time_values(values(2), 1),
                a_file(tmp_path, "5.csv"),
                a_file(tmp_path, "6.csv"),
            ],
        )
        order = [entry.content_file for entry in cache.queued()]
        cache.trigger(SCAN_MODE)
        await wait_until(lambda: not cache.queued())
        metrics = cache.metrics()
    # Runs of raw files (max_batch at most) in one call; a lone file and time-values one by one.
    assert batches.batches == [["0.csv", "1.csv", "2.csv"], ["5.csv", "6.csv"]]
    assert [(s.content_type, s.content_file) for s in send.sent] == [
        ("any", "3.csv"),
        ("time-values", order[4]),
        ("any", "4.csv"),
        ("time-values", order[6]),
    ]
    assert metrics["contentSentSize"] == sum(len(f"{i}.csv") for i in range(7)) + 2 * len(values(1))
    assert metrics["lastContentSent"] == "6.csv"
    assert names_in(tmp_path / "d", "cache") == names_in(tmp_path / "d", "cache", "content") == set()


async def test_a_batch_takes_only_what_is_queued(tmp_path: Path) -> None:
    send, batches = SendRecorder(), BatchRecorder()
    async with running(make_cache(tmp_path, caching(number_of_files=1), send=send, send_batch=batches)) as cache:
        await cache.store([a_file(tmp_path, "a.csv")])
        await wait_until(lambda: not cache.queued())
        await cache.store([a_file(tmp_path, "b.csv"), a_file(tmp_path, "c.csv")])
        await wait_until(lambda: not cache.queued())
    # No waiting for more: the first file left alone, the next two together.
    assert [s.content_file for s in send.sent] == ["a.csv"]
    assert batches.batches == [["b.csv", "c.csv"]]


async def test_archive_keeps_every_file_of_a_batch(tmp_path: Path) -> None:
    batches = BatchRecorder()
    cache = make_cache(tmp_path, caching(archive=True), send_batch=batches)
    async with running(cache):
        await cache.store([a_file(tmp_path, f"{i}.csv") for i in range(3)])
        cache.trigger(SCAN_MODE)
        await wait_until(lambda: not cache.queued())
        metrics = cache.metrics()
        archived = await cache.search("archive")
    assert batches.batches == [["0.csv", "1.csv", "2.csv"]]
    # One store call: one createdAt, so search() orders them by name.
    assert sorted(entry.content_file for entry in archived) == ["0.csv", "1.csv", "2.csv"]
    assert metrics["contentArchivedSize"] == metrics["contentSentSize"] == 15


async def test_failed_batch_is_sent_one_by_one_and_the_bad_file_isolated(tmp_path: Path) -> None:
    logger = RecordingLogger()

    def bad_in(batch: list[CacheEntry]) -> BaseException | None:
        return SendError("one file is refused") if any(e.content_file == "bad.csv" for e in batch) else None

    send = SendRecorder(fail=lambda entry: SendError("refused") if entry.content_file == "bad.csv" else None)
    batches = BatchRecorder(fail=bad_in)
    settings = caching(retry_count=1)
    cache = make_cache(tmp_path / "d", settings, send=send, send_batch=batches, logger=logger)
    async with running(cache):
        await store_each(cache, [a_file(tmp_path, name) for name in ("a.csv", "bad.csv", "c.csv", "d.csv")])
        bad = cache.queued()[1].name
        cache.trigger(SCAN_MODE)
        await wait_until(lambda: not cache.queued())
        metrics = cache.metrics()
    # The batch failed; one by one, a.csv went, bad.csv failed twice (retryCount=1) and went to error/,
    # then batching resumed with the rest.
    assert batches.attempts == 2
    assert batches.batches == [["c.csv", "d.csv"]]
    assert [s.content_file for s in send.sent] == ["a.csv"]
    assert [name for name in send.attempts] == [send.attempts[0], bad, bad]
    assert names_in(tmp_path / "d", "error") == {bad}
    assert metrics["contentErroredSize"] == len("bad.csv")
    assert logger.events("warning").count("cache entry send failed") == 1
    assert "cache entry moved to error after failures" in logger.events("warning")


async def test_retry_forever_in_a_batch_keeps_every_file_in_order(tmp_path: Path) -> None:
    outage = {"on": True}
    failures = iter(range(3))

    def down(entry: CacheEntry) -> BaseException | None:
        if next(failures, None) is None:
            outage["on"] = False
            return None
        return SendError("target down", retry_forever=True)

    send = SendRecorder(fail=down)
    batches = BatchRecorder(fail=lambda batch: SendError("down", retry_forever=True) if outage["on"] else None)
    cache = make_cache(tmp_path / "d", caching(retry_count=0), send=send, send_batch=batches)
    async with running(cache):
        await store_each(cache, [a_file(tmp_path, f"{i}.csv") for i in range(4)])
        first = cache.queued()[0].name
        cache.trigger(SCAN_MODE)
        await wait_until(lambda: not cache.queued())
    # While the head keeps failing it is retried alone, never moved to error/ (retryCount=0 would).
    assert send.attempts == [first] * 4
    assert sent_files(send, batches) == ["1.csv", "2.csv", "3.csv", "0.csv"]
    assert [s.content_file for s in send.sent] == ["0.csv"]
    assert batches.batches == [["1.csv", "2.csv", "3.csv"]]
    assert names_in(tmp_path / "d", "error") == set()


async def test_unexpected_batch_error_counts_like_a_failure(tmp_path: Path) -> None:
    logger = RecordingLogger()
    send = SendRecorder()
    batches = BatchRecorder(fail=lambda batch: RuntimeError("bug"))
    async with running(make_cache(tmp_path, send=send, send_batch=batches, logger=logger)) as cache:
        await store_each(cache, [a_file(tmp_path, f"{i}.csv") for i in range(2)])
        cache.trigger(SCAN_MODE)
        await wait_until(lambda: not cache.queued())
    assert [s.content_file for s in send.sent] == ["0.csv", "1.csv"]
    assert "cache entry send raised unexpectedly" in logger.events("error")


# -- background deletion ------------------------------------------------------------------------------


class HeldDeletes:
    """Holds ``NorthDisk.delete`` of ``cache/`` entries until released (or forever: a crash before it)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.gate = threading.Event()
        self.forever = False
        self.calls = 0
        real = north_disk.NorthDisk.delete

        def delete(disk: north_disk.NorthDisk, where: str, names: object, **kwargs: object) -> list[str]:
            if where == "cache":
                self.calls += 1
                self.gate.wait(10)
                if self.forever:
                    return []
            return real(disk, where, names, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(north_disk.NorthDisk, "delete", delete)


async def test_a_sent_entry_leaves_the_queue_before_its_files_are_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = HeldDeletes(monkeypatch)
    send = SendRecorder()
    cache = make_cache(tmp_path, caching(number_of_elements=1, max_number_of_elements=1), send=send)
    async with running(cache):
        await store_each(cache, [NewEntry.time_values(values(1), 1), NewEntry.time_values(values(2), 1)])
        size = cache.metrics()["currentCacheSize"]
        await wait_until(lambda: len(send.sent) == 2)
        await wait_until(lambda: held.calls >= 1)
        for _ in range(3):
            cache.trigger(SCAN_MODE)
        await settle()
        # Not sent again, not queued; still on disk and still counted against maxSize.
        assert len(send.attempts) == 2
        metrics = cache.metrics()
        assert cache.queued() == []
        assert metrics["numberOfQueuedElements"] == 0
        assert metrics["currentCacheSize"] == size
        assert len(names_in(tmp_path, "cache")) == 2
        held.gate.set()
        await wait_until(lambda: cache.metrics()["currentCacheSize"] == 0)
    assert names_in(tmp_path, "cache") == names_in(tmp_path, "cache", "content") == set()


async def test_an_entry_whose_deletion_never_happened_is_sent_once_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = HeldDeletes(monkeypatch)
    held.forever = True
    held.gate.set()
    first = SendRecorder()
    async with running(make_cache(tmp_path, caching(number_of_elements=1), send=first)) as cache:
        await cache.store([NewEntry.time_values(values(7), 1)])
        await wait_until(lambda: len(first.sent) == 1)
        await settle()
    # The process died before the unlink: the entry is complete on disk.
    assert len(first.attempts) == 1
    assert len(names_in(tmp_path, "cache")) == 1
    monkeypatch.undo()
    again = SendRecorder()
    async with running(make_cache(tmp_path, caching(number_of_elements=1), send=again)) as cache:
        await wait_until(lambda: len(again.sent) == 1)
        await settle()
        assert again.sent_numbers() == [7]
    assert len(again.attempts) == 1
    assert names_in(tmp_path, "cache") == set()


async def test_close_waits_for_pending_deletions(tmp_path: Path) -> None:
    batches = BatchRecorder()
    async with running(make_cache(tmp_path, send_batch=batches)) as cache:
        await cache.store([a_file(tmp_path, f"{i}.csv") for i in range(20)])
        cache.trigger(SCAN_MODE)
        await wait_until(lambda: not cache.queued())
    assert names_in(tmp_path, "cache") == names_in(tmp_path, "cache", "content") == set()


# -- spare files and owned files ----------------------------------------------------------------------


def spares_of(data: Path) -> set[str]:
    return {name for name in names_in(data, "cache", "tmp") if name.endswith(".spare")}


@pytest.mark.parametrize("syncfs", SYNC_MODES)
async def test_files_of_deleted_entries_are_reused_for_new_ones(tmp_path: Path, syncfs: bool) -> None:
    async with opened(make_cache(tmp_path, syncfs=syncfs, coalesce=False)) as cache:
        await cache.store([NewEntry(content_type="any-content", payload=b"x" * 300) for _ in range(3)])
        old = cache.queued()
        inodes = {os.stat(entry.metadata_path).st_ino for entry in old}
        inodes |= {os.stat(entry.content_path).st_ino for entry in old}
        await cache.storage.finish(old, archive=False)
        await cache.storage.reaper.drain()
        assert len(spares_of(tmp_path)) == 6
        await cache.store([NewEntry(content_type="any-content", payload=b"new") for _ in range(3)])
        new = cache.queued()
        reused = {os.stat(entry.metadata_path).st_ino for entry in new}
        reused |= {os.stat(entry.content_path).st_ino for entry in new}
        metrics = cache.metrics()
    # Overwritten in place and truncated: the new entries are exactly what was stored.
    assert reused == inodes
    assert all(entry.content_path.read_bytes() == b"new" for entry in new)
    assert spares_of(tmp_path) == set()
    on_disk = sum(
        p.stat().st_size for sub in ("content", "metadata") for p in (folder(tmp_path, "cache") / sub).iterdir()
    )
    assert metrics["currentCacheSize"] == on_disk


async def test_large_contents_are_emptied_before_they_become_spares(tmp_path: Path) -> None:
    big = b"[" + b" " * (north_disk.SPARE_KEEP_BYTES + 10) + b"]"
    async with opened(make_cache(tmp_path)) as cache:
        await cache.store([NewEntry.time_values(big, 0)])
        await cache.storage.finish(cache.queued(), archive=False)
        await cache.storage.reaper.drain()
    tmp = folder(tmp_path, "cache") / "tmp"
    assert len(spares_of(tmp_path)) == 2
    assert max((tmp / name).stat().st_size for name in spares_of(tmp_path)) < north_disk.SPARE_KEEP_BYTES


async def test_spares_survive_a_restart_up_to_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(north_disk, "MAX_SPARES", 4)
    async with opened(make_cache(tmp_path)) as cache:
        assert cache.storage.disk.spares.limit == 4
        await cache.store([NewEntry(content_type="any-content", payload=b"x") for _ in range(3)])
        await cache.storage.finish(cache.queued(), archive=False)
    # Three metadata and three contents, four kept: the rest were deleted.
    assert len(spares_of(tmp_path)) == 4
    logger = RecordingLogger()
    async with opened(make_cache(tmp_path, logger=logger)) as cache:
        assert len(cache.storage.disk.spares) == 4
        await cache.store([NewEntry.time_values(values(1), 1)])
    assert len(spares_of(tmp_path)) == 2
    # Spares are not leftovers of a crash.
    assert "cache recovered from an interrupted write" not in logger.events("info")


@pytest.mark.parametrize("syncfs", SYNC_MODES)
async def test_owned_files_are_hard_linked_and_their_inode_never_reused(tmp_path: Path, syncfs: bool) -> None:
    source = tmp_path / "in" / "report.csv"
    source.parent.mkdir()
    copied = tmp_path / "in" / "kept.csv"
    copied.write_bytes(b"report.csv")
    batches = BatchRecorder()
    cache = make_cache(tmp_path / "d", send_batch=batches, syncfs=syncfs)
    async with running(cache):
        for _ in range(2):
            source.write_bytes(b"report.csv")
            entries = [
                NewEntry.file(source, owned=True),
                NewEntry.file(copied, filename="report.csv"),
                NewEntry.file(source, filename="report.csv", owned=True),
            ]
            assert await cache.store(entries) == [None, None, None]
            linked, kept, linked_again = cache.queued()
            source_inode = source.stat().st_ino
            assert linked.content_path.stat().st_ino == source_inode == linked_again.content_path.stat().st_ino
            assert kept.content_path.stat().st_ino != copied.stat().st_ino
            # The South deletes its file once stored: the cache's link keeps the bytes.
            source.unlink()
            assert linked.content_path.read_bytes() == b"report.csv"
            cache.trigger(SCAN_MODE)
            await wait_until(lambda: not cache.queued())
            await cache.storage.reaper.drain()
            # Contents that were links to a source are deleted, never overwritten for a new entry: only the
            # metadata files are kept as spares (and the new entries used the previous round's).
            spares = spares_of(tmp_path / "d")
            assert len(spares) == 3
            tmp = folder(tmp_path / "d", "cache") / "tmp"
            assert source_inode not in {(tmp / name).stat().st_ino for name in spares}
    assert copied.read_bytes() == b"report.csv"
    assert batches.batches == [["report.csv"] * 3] * 2
