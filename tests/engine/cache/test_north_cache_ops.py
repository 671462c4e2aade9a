"""North cache operator actions: search, remove, move, clear, and retention of error/archive."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from north_cache_support import (
    SendRecorder,
    caching,
    folder,
    make_cache,
    names_in,
    opened,
    running,
    values,
    wait_until,
)

from engine.cache.north import NewEntry, NorthCache


async def fill(cache: NorthCache, count: int) -> list[str]:
    for i in range(count):
        assert await cache.store([NewEntry.time_values(values(i), 1)]) == [None]
    return [entry.name for entry in cache.queued()]


async def test_search_by_name_dates_and_limit(tmp_path: Path) -> None:
    async with opened(make_cache(tmp_path)) as cache:
        names = await fill(cache, 4)
        created = [entry.created_at for entry in cache.queued()]
        assert [e.name for e in await cache.search("cache")] == names
        assert [e.name for e in await cache.search("cache", name_contains=names[2][3:9])] == [names[2]]
        assert [e.name for e in await cache.search("cache", max_results=2)] == names[:2]
        late = await cache.search("cache", start=created[1])
        assert [e.name for e in late] == [n for n, c in zip(names, created, strict=True) if c >= created[1]]
        future = datetime.now(UTC) + timedelta(hours=1)
        assert await cache.search("cache", start=future) == []
        assert len(await cache.search("cache", end=future)) == 4
        await cache.move("cache", names[:2], "error")
        errored = await cache.search("error", end=future)
        assert [e.name for e in errored] == names[:2]
        assert errored[0].metadata.number_of_element == 1
        assert errored[0].folder == "error"


async def test_remove_and_move_keep_disk_memory_and_sizes_in_step(tmp_path: Path) -> None:
    async with opened(make_cache(tmp_path)) as cache:
        names = await fill(cache, 4)
        assert await cache.remove("cache", [names[0], "unknown00000"]) == 1
        assert await cache.move("cache", names[1:3], "archive") == 2
        assert await cache.move("archive", [names[1]], "error") == 1
        metrics = cache.metrics()
        assert [e.name for e in cache.queued()] == [names[3]]
        assert metrics["numberOfQueuedElements"] == 1
    assert names_in(tmp_path, "cache") == names_in(tmp_path, "cache", "content") == {names[3]}
    assert names_in(tmp_path, "archive") == names_in(tmp_path, "archive", "content") == {names[2]}
    assert names_in(tmp_path, "error") == names_in(tmp_path, "error", "content") == {names[1]}
    for where, key in (("cache", "currentCacheSize"), ("error", "currentErrorSize"), ("archive", "currentArchiveSize")):
        on_disk = sum(
            p.stat().st_size for sub in ("content", "metadata") for p in (folder(tmp_path, where) / sub).iterdir()
        )
        assert metrics[key] == on_disk


async def test_moving_back_to_cache_requeues_in_created_order_and_sends(tmp_path: Path) -> None:
    send = SendRecorder()
    async with running(make_cache(tmp_path, caching(number_of_elements=3), send=send)) as cache:
        await fill(cache, 2)
        old = cache.queued()[0].name
        await cache.move("cache", [old], "error")
        await fill(cache, 1)
        assert cache.metrics()["numberOfQueuedElements"] == 2
        assert await cache.move("error", [old], "cache") == 1
        assert cache.queued()[0].name == old
        # Three elements queued again: the threshold sends them.
        await wait_until(lambda: not cache.queued())
    assert [s.number_of_element for s in send.sent] == [3]
    assert send.sent_numbers() == [0, 1, 0]


async def test_clear_all_empties_every_folder(tmp_path: Path) -> None:
    async with opened(make_cache(tmp_path)) as cache:
        names = await fill(cache, 3)
        await cache.move("cache", [names[0]], "error")
        await cache.move("cache", [names[1]], "archive")
        assert await cache.clear_all() == 3
        metrics = cache.metrics()
    assert metrics["currentCacheSize"] == metrics["currentErrorSize"] == metrics["currentArchiveSize"] == 0
    for where in ("cache", "error", "archive"):
        assert names_in(tmp_path, where) == names_in(tmp_path, where, "content") == set()


async def test_retention_removes_old_error_and_archive_entries(tmp_path: Path) -> None:
    settings = caching(error_retention=2, archive_retention=0)
    async with opened(make_cache(tmp_path, settings)) as cache:
        names = await fill(cache, 4)
        await cache.move("cache", names[:2], "error")
        await cache.move("cache", names[2:], "archive")
        three_hours_ago = time.time() - 3 * 3600
        for name in (names[0], names[2]):
            for where in ("error", "archive"):
                path = folder(tmp_path, where) / "metadata" / name
                if path.exists():
                    os.utime(path, (three_hours_ago, three_hours_ago))
        # archive retention 0 keeps forever; error keeps 2 h.
        assert await cache.apply_retention() == 1
        assert names_in(tmp_path, "error") == {names[1]}
        assert names_in(tmp_path, "archive") == set(names[2:])
        cache.update_settings(caching(error_retention=2, archive_retention=1))
        assert await cache.apply_retention() == 1
        assert names_in(tmp_path, "archive") == {names[3]}
        # A later sweep, once everything is old enough.
        assert await cache.apply_retention(now=time.time() + 3 * 3600) == 2
        metrics = cache.metrics()
    assert names_in(tmp_path, "error") == names_in(tmp_path, "archive") == set()
    assert names_in(tmp_path, "error", "content") == names_in(tmp_path, "archive", "content") == set()
    assert metrics["currentErrorSize"] == metrics["currentArchiveSize"] == 0


async def test_moving_into_error_restarts_the_retention_clock(tmp_path: Path) -> None:
    async with opened(make_cache(tmp_path, caching(error_retention=1))) as cache:
        (name,) = await fill(cache, 1)
        metadata = folder(tmp_path, "cache") / "metadata" / name
        long_ago = time.time() - 10 * 3600
        os.utime(metadata, (long_ago, long_ago))
        await cache.move("cache", [name], "error")
        assert await cache.apply_retention() == 0
        assert names_in(tmp_path, "error") == {name}
