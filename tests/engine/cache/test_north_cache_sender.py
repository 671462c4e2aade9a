"""North cache send loop: triggers, thresholds, runMinDelay, compaction, retries, error and archive."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from north_cache_support import (
    SCAN_MODE,
    RecordingLogger,
    SendRecorder,
    caching,
    make_cache,
    names_in,
    numbers_of,
    running,
    settle,
    values,
    wait_until,
)

from connectors.errors import SendError
from engine.cache.north import CacheEntry, NewEntry, NorthCache
from engine.cache.north import store as north_store


def a_file(tmp_path: Path, name: str, body: bytes = b"x") -> NewEntry:
    path = tmp_path / "src" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(body)
    return NewEntry.file(path)


async def store_each(cache: NorthCache, entries: list[NewEntry]) -> None:
    """Store one entry per call, so each gets its own (later) createdAt."""
    for entry in entries:
        assert await cache.store([entry]) == [None]


async def test_cron_tick_drains_the_queue_in_order(tmp_path: Path) -> None:
    send = SendRecorder()
    async with running(make_cache(tmp_path / "d", caching(max_number_of_elements=1), send=send)) as cache:
        await store_each(
            cache,
            [
                NewEntry.time_values(values(1), 1),
                a_file(tmp_path, "a.csv"),
                NewEntry.time_values(values(2), 1),
                a_file(tmp_path, "b.csv"),
            ],
        )
        expected = [entry.name for entry in cache.queued()]
        await settle()
        assert send.attempts == []
        assert cache.trigger("another-scan-mode") is False
        await settle()
        assert send.attempts == []
        assert cache.trigger(SCAN_MODE) is True
        await wait_until(lambda: not cache.queued())
    assert [sent.name for sent in send.sent] == expected
    assert [sent.content_file for sent in send.sent][1::2] == ["a.csv", "b.csv"]
    assert names_in(tmp_path / "d", "cache") == set()
    assert names_in(tmp_path / "d", "cache", "content") == set()


async def test_number_of_files_threshold_sends_without_tick(tmp_path: Path) -> None:
    send = SendRecorder()
    async with running(make_cache(tmp_path / "d", caching(number_of_files=2), send=send)) as cache:
        await cache.store([a_file(tmp_path, "1.csv")])
        await settle()
        assert send.attempts == []
        await cache.store([a_file(tmp_path, "2.csv")])
        await wait_until(lambda: len(send.sent) == 1)
        # One file left: below the threshold again, so it waits for the next tick or file.
        await settle()
        assert len(send.sent) == 1
        assert cache.metrics()["numberOfQueuedFiles"] == 1
        await cache.store([a_file(tmp_path, "3.csv")])
        await wait_until(lambda: len(send.sent) == 2)
    assert [s.content_file for s in send.sent] == ["1.csv", "2.csv"]


async def test_drain_sends_what_is_below_every_threshold_without_a_tick(tmp_path: Path) -> None:
    send = SendRecorder()
    settings = caching(number_of_elements=1000, number_of_files=5, max_number_of_elements=0)
    async with running(make_cache(tmp_path / "d", settings, send=send)) as cache:
        await store_each(cache, [NewEntry.time_values(values(1, 2), 2), a_file(tmp_path, "a.csv")])
        await settle()
        assert send.attempts == []  # below both thresholds, and no tick: it would wait for ever
        cache.drain()
        await wait_until(lambda: not cache.queued())
        cache.drain()  # with nothing queued: no empty send
        await settle()
    assert [numbers_of(s.content) for s in send.sent[:1]] == [[1, 2]]
    assert [s.content_file for s in send.sent[1:]] == ["a.csv"]


async def test_number_of_elements_threshold_sends_a_compacted_batch(tmp_path: Path) -> None:
    send = SendRecorder()
    settings = caching(number_of_elements=5, max_number_of_elements=0)
    async with running(make_cache(tmp_path, settings, send=send)) as cache:
        await cache.store([NewEntry.time_values(values(1, 2, 3), 3)])
        await settle()
        assert send.attempts == []
        await cache.store([NewEntry.time_values(values(4, 5), 2)])
        await wait_until(lambda: not cache.queued())
    assert [numbers_of(s.content) for s in send.sent] == [[1, 2, 3, 4, 5]]
    assert send.sent[0].number_of_element == 5


async def test_run_min_delay_holds_the_next_send_until_it_ends(tmp_path: Path) -> None:
    send = SendRecorder()
    settings = caching(number_of_files=1, run_min_delay=60_000)
    async with running(make_cache(tmp_path / "d", settings, send=send)) as cache:
        await store_each(cache, [a_file(tmp_path, "1.csv"), a_file(tmp_path, "2.csv")])
        await wait_until(lambda: len(send.sent) == 1)
        await settle(50)
        assert len(send.attempts) == 1
        # A live settings change re-evaluates the wait: with no delay left the second file goes.
        cache.update_settings(caching(number_of_files=1, run_min_delay=0))
        await wait_until(lambda: len(send.sent) == 2)
    assert [s.content_file for s in send.sent] == ["1.csv", "2.csv"]


async def test_only_one_send_at_a_time(tmp_path: Path) -> None:
    send = SendRecorder(delay=0.002)
    async with running(make_cache(tmp_path / "d", caching(number_of_files=1), send=send)) as cache:
        await asyncio.gather(*(cache.store([a_file(tmp_path, f"{i}.csv")]) for i in range(10)))
        for _ in range(5):
            cache.trigger(SCAN_MODE)
        await wait_until(lambda: len(send.sent) == 10)
    assert send.max_active == 1


async def test_compaction_merges_same_type_in_order_up_to_the_limit(tmp_path: Path) -> None:
    send = SendRecorder()
    async with running(make_cache(tmp_path / "d", caching(max_number_of_elements=4), send=send)) as cache:
        await store_each(
            cache,
            [
                NewEntry.time_values(values(1, 2), 2),
                a_file(tmp_path, "a.csv"),
                NewEntry.time_values(values(3), 1),
                a_file(tmp_path, "b.csv"),
                NewEntry.time_values(values(4, 5, 6), 3),
                NewEntry.time_values(values(7), 1),
            ],
        )
        cache.trigger(SCAN_MODE)
        await wait_until(lambda: not cache.queued())
    batches = [numbers_of(s.content) for s in send.sent if s.content_type == "time-values"]
    assert batches == [[1, 2, 3, 4], [5, 6, 7]]
    assert [s.number_of_element for s in send.sent if s.content_type == "time-values"] == [4, 3]
    # Raw files are never merged.
    assert [s.content_file for s in send.sent if s.content_type == "any"] == ["a.csv", "b.csv"]
    assert names_in(tmp_path / "d", "cache", "content") == set()


async def test_merged_entries_are_sent_from_memory_without_writing_a_compaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    send = SendRecorder()
    compactions: list[str] = []
    real_merge = vars(north_store)["merge"]

    def merge(*args: Any) -> Any:
        compactions.append("merge")
        return real_merge(*args)

    monkeypatch.setattr(north_store, "merge", merge)
    async with running(make_cache(tmp_path / "d", caching(max_number_of_elements=0), send=send)) as cache:
        await store_each(cache, [NewEntry.time_values(values(n), 1) for n in range(1, 6)])
        names = [entry.name for entry in cache.queued()]
        cache.trigger(SCAN_MODE)
        await wait_until(lambda: not cache.queued())
    assert [numbers_of(s.content) for s in send.sent] == [[1, 2, 3, 4, 5]]
    # Sent on behalf of the head, and no merged entry written.
    assert send.sent[0].name == names[0]
    assert compactions == []
    assert names_in(tmp_path / "d", "cache", "content") == set()


async def test_a_failed_merged_send_is_compacted_and_retried_as_a_written_entry(tmp_path: Path) -> None:
    failures = iter([SendError("busy")])
    send = SendRecorder(fail=lambda entry: next(failures, None))
    async with running(make_cache(tmp_path / "d", caching(max_number_of_elements=0), send=send)) as cache:
        await store_each(cache, [NewEntry.time_values(values(n), 1) for n in range(1, 4)])
        originals = {entry.name for entry in cache.queued()}
        cache.trigger(SCAN_MODE)
        await wait_until(lambda: not cache.queued())
    assert [numbers_of(s.content) for s in send.sent] == [[1, 2, 3]]
    # The retry sent the compacted entry, a real one with a name of its own.
    assert len(send.attempts) == 2
    assert send.attempts[1] not in originals
    assert names_in(tmp_path / "d", "cache", "content") == set()


async def test_failed_entry_goes_to_error_after_retry_count(tmp_path: Path) -> None:
    logger = RecordingLogger()
    bad: set[str] = set()

    def fail(entry: CacheEntry) -> BaseException | None:
        return SendError("target said no") if entry.name in bad else None

    send = SendRecorder(fail=fail)
    cache = make_cache(tmp_path, caching(retry_count=2, max_number_of_elements=1), send=send, logger=logger)
    async with running(cache):
        await store_each(cache, [NewEntry.time_values(values(1), 1), NewEntry.time_values(values(2), 1)])
        first, second = (entry.name for entry in cache.queued())
        first_size = cache.queued()[0].content_size
        bad.add(first)
        cache.trigger(SCAN_MODE)
        await wait_until(lambda: not cache.queued())
        metrics = cache.metrics()
    # retry_count=2: the first attempt plus two retries, then error/; the next entry goes on.
    assert send.attempts == [first, first, first, second]
    assert [s.name for s in send.sent] == [second]
    assert names_in(tmp_path, "error") == names_in(tmp_path, "error", "content") == {first}
    assert metrics["contentErroredSize"] == first_size
    assert metrics["currentErrorSize"] > 0
    assert "cache entry moved to error after failures" in logger.events("warning")


async def test_retry_forever_never_moves_to_error_and_keeps_order(tmp_path: Path) -> None:
    failures = iter(range(10))
    logger = RecordingLogger()

    def fail(entry: CacheEntry) -> BaseException | None:
        return SendError("network down", retry_forever=True) if next(failures, None) is not None else None

    send = SendRecorder(fail=fail)
    settings = caching(retry_count=0, max_number_of_elements=1)
    async with running(make_cache(tmp_path, settings, send=send, logger=logger)) as cache:
        await store_each(cache, [NewEntry.time_values(values(1), 1), NewEntry.time_values(values(2), 1)])
        first, second = (entry.name for entry in cache.queued())
        cache.trigger(SCAN_MODE)
        await wait_until(lambda: not cache.queued())
    assert send.attempts == [first] * 11 + [second]
    assert [s.name for s in send.sent] == [first, second]
    assert names_in(tmp_path, "error") == set()
    # One warning for the outage, one info when it is over.
    assert logger.events("warning") == ["cache entry send failed"]
    assert "cache entry sent, target recovered" in logger.events("info")


async def test_other_exceptions_count_as_failures(tmp_path: Path) -> None:
    logger = RecordingLogger()
    send = SendRecorder(fail=lambda entry: RuntimeError("bug in the north"))
    async with running(make_cache(tmp_path, caching(retry_count=1), send=send, logger=logger)) as cache:
        await cache.store([NewEntry.time_values(values(1), 1)])
        name = cache.queued()[0].name
        cache.trigger(SCAN_MODE)
        await wait_until(lambda: not cache.queued())
    assert send.attempts == [name, name]
    assert names_in(tmp_path, "error") == {name}
    assert "cache entry send raised unexpectedly" in logger.events("error")


async def test_retried_head_is_compacted_with_newer_data_and_keeps_its_failures(tmp_path: Path) -> None:
    attempts: list[list[int]] = []
    cache: NorthCache

    async def send(entry: CacheEntry) -> None:
        attempts.append(numbers_of(await entry.read_content()))
        if len(attempts) == 1:
            # New data arrives while the head is failing: the retry merges it in.
            assert await cache.store([NewEntry.time_values(values(2), 1)]) == [None]
        raise SendError("busy")

    settings = caching(retry_count=2, max_number_of_elements=0)
    cache = NorthCache(tmp_path, "n1", settings, send=send, supported_types=["time-values"], logger=RecordingLogger())
    async with running(cache):
        await cache.store([NewEntry.time_values(values(1), 1)])
        cache.trigger(SCAN_MODE)
        await wait_until(lambda: not cache.queued())
        (errored,) = await cache.search("error")
    # Three failures in all (retry_count=2): the merged entry inherited the head's first failure.
    assert attempts == [[1], [1, 2], [1, 2]]
    assert numbers_of(errored.content_path.read_bytes()) == [1, 2]


async def test_unsupported_type_goes_straight_to_error(tmp_path: Path) -> None:
    send = SendRecorder()
    cache = make_cache(tmp_path / "d", caching(number_of_files=1), send=send, supported=("time-values",))
    async with running(cache):
        await cache.store([a_file(tmp_path, "a.csv")])
        await wait_until(lambda: not cache.queued())
        assert cache.metrics()["contentErroredSize"] == 1
    assert send.attempts == []
    assert len(names_in(tmp_path / "d", "error")) == 1


async def test_archive_keeps_sent_entries(tmp_path: Path) -> None:
    send = SendRecorder()
    payload = values(1, 2)
    async with running(make_cache(tmp_path, caching(archive=True, number_of_elements=1), send=send)) as cache:
        await cache.store([NewEntry.time_values(payload, 2)])
        await wait_until(lambda: not cache.queued())
        metrics = cache.metrics()
        archived = await cache.search("archive")
    assert [e.name for e in archived] == [s.name for s in send.sent]
    assert archived[0].content_path.read_bytes() == payload
    assert names_in(tmp_path, "cache") == names_in(tmp_path, "cache", "content") == set()
    assert metrics["contentArchivedSize"] == metrics["contentSentSize"] == len(payload)
    assert metrics["currentArchiveSize"] > 0 and metrics["currentCacheSize"] == 0


async def test_metrics_after_a_send(tmp_path: Path) -> None:
    send = SendRecorder()
    async with running(make_cache(tmp_path / "d", caching(number_of_files=1), send=send)) as cache:
        assert cache.metrics()["lastRunStart"] is None
        await cache.store([a_file(tmp_path, "a.csv", b"12345")])
        await wait_until(lambda: not cache.queued())
        metrics = cache.metrics()
    assert metrics["lastContentSent"] == "a.csv"
    assert metrics["contentSentSize"] == 5
    assert metrics["contentArchivedSize"] == 0
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", metrics["lastRunStart"])
    assert isinstance(metrics["lastRunDuration"], int)


async def test_close_stops_an_idle_and_a_retrying_loop(tmp_path: Path) -> None:
    send = SendRecorder(fail=lambda entry: SendError("down", retry_forever=True))
    cache = make_cache(tmp_path, caching(retry_interval=60_000, number_of_elements=1), send=send)
    await cache.open()
    async with asyncio.TaskGroup() as group:
        task = group.create_task(cache.run())
        await cache.store([NewEntry.time_values(values(1), 1)])
        await wait_until(lambda: len(send.attempts) == 1)
        await cache.close()
    assert task.done()
    assert len(send.attempts) == 1
