"""North cache: recovery at open, a crash at every file operation, and a real kill -9 during stores."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from north_cache_support import (
    SYNC_MODES,
    RecordingLogger,
    caching,
    folder,
    make_cache,
    names_in,
    numbers_of,
    opened,
    values,
)

from engine.cache.north import NewEntry, NorthCache
from engine.cache.north import commit as north_commit
from engine.cache.north import disk as north_disk
from engine.cache.north import files as north_files

REPO = Path(__file__).resolve().parents[3]


def put_entry(data: Path, where: str, name: str, content: bytes, created_at: str, count: int = 1) -> None:
    """Write a complete entry by hand, as an earlier run would have left it."""
    metadata = {
        "contentFile": f"{name}.json",
        "contentSize": len(content),
        "numberOfElement": count,
        "createdAt": created_at,
        "contentType": "time-values" if count else "any",
    }
    for sub, body in (("content", content), ("metadata", json.dumps(metadata).encode())):
        path = folder(data, where) / sub / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)


def check_consistent(data: Path) -> None:
    """Every folder holds complete entries only, and tmp/ holds nothing but spare files."""
    assert {name for name in names_in(data, "cache", "tmp") if not name.endswith(".spare")} == set()
    for where in ("cache", "error", "archive"):
        names = names_in(data, where)
        assert names_in(data, where, "content") == names
        for name in names:
            metadata = json.loads((folder(data, where) / "metadata" / name).read_bytes())
            assert (folder(data, where) / "content" / name).stat().st_size == metadata["contentSize"]


async def test_open_repairs_every_partial_state_and_rebuilds_the_queue(tmp_path: Path) -> None:
    put_entry(tmp_path, "cache", "bbbbbbbbbbbb", values(2), "2024-05-01T00:00:01.000Z")
    put_entry(tmp_path, "cache", "aaaaaaaaaaaa", values(3), "2024-05-01T00:00:01.000Z")
    put_entry(tmp_path, "cache", "cccccccccccc", values(1), "2024-05-01T00:00:00.500Z")
    put_entry(tmp_path, "cache", "ffffffffffff", b"raw file", "2024-05-01T00:00:02.000Z", count=0)
    put_entry(tmp_path, "error", "eeeeeeeeeeee", values(9), "2024-04-01T00:00:00.000Z")
    put_entry(tmp_path, "archive", "rrrrrrrrrrrr", values(8), "2024-04-01T00:00:00.000Z")
    cache_dir = folder(tmp_path, "cache")
    # A crash inside a group commit: files in tmp/.
    (cache_dir / "tmp").mkdir()
    (cache_dir / "tmp" / "xxxxxxxxxxxx.content").write_bytes(b"[1,")
    (cache_dir / "tmp" / "xxxxxxxxxxxx.metadata").write_bytes(b"{")
    # A crash between the two renames: content without metadata.
    (cache_dir / "content" / "orphan000000").write_bytes(values(7))
    # Metadata whose content is gone.
    (cache_dir / "metadata" / "dangling0000").write_bytes(
        json.dumps(
            {
                "contentFile": "d.json",
                "contentSize": 3,
                "numberOfElement": 1,
                "createdAt": "2024-05-01T00:00:00.000Z",
                "contentType": "time-values",
            }
        ).encode()
    )
    # Garbage metadata: its acknowledged content is kept, in error/ with metadata rebuilt from it.
    (cache_dir / "metadata" / "garbage00000").write_bytes(b"not json")
    (cache_dir / "content" / "garbage00000").write_bytes(values(6))
    # Orphans in error/ and archive/ (moves interrupted after the link).
    (folder(tmp_path, "error") / "content" / "linked000000").write_bytes(values(5))
    (folder(tmp_path, "archive") / "content" / "linked111111").write_bytes(values(4))

    logger = RecordingLogger()
    async with opened(make_cache(tmp_path, logger=logger)) as cache:
        queue = [entry.name for entry in cache.queued()]
        metrics = cache.metrics()
        errors = await cache.search("error")
    # createdAt order, then name for equal instants.
    assert queue == ["cccccccccccc", "aaaaaaaaaaaa", "bbbbbbbbbbbb", "ffffffffffff"]
    assert metrics["numberOfQueuedElements"] == 3
    assert metrics["numberOfQueuedFiles"] == 1
    check_consistent(tmp_path)
    assert names_in(tmp_path, "cache") == set(queue)
    assert [e.name for e in errors] == ["eeeeeeeeeeee", "garbage00000"]
    assert (errors[1].content_type, errors[1].number_of_element) == ("time-values", 1)
    assert (folder(tmp_path, "error") / "damaged" / "garbage00000.metadata").read_bytes() == b"not json"
    assert names_in(tmp_path, "archive", "content") == {"rrrrrrrrrrrr"}
    for where, key in (("cache", "currentCacheSize"), ("error", "currentErrorSize"), ("archive", "currentArchiveSize")):
        on_disk = sum(
            p.stat().st_size for sub in ("content", "metadata") for p in (folder(tmp_path, where) / sub).iterdir()
        )
        assert metrics[key] == on_disk
    assert (
        "unparsable cache metadata: entry kept in the error folder with metadata rebuilt from its content"
        in logger.events("error")
    )
    assert "cache recovered from an interrupted write" in logger.events("info")


async def test_open_moves_content_off_its_metadata_to_the_error_folder(tmp_path: Path) -> None:
    # An entry of an earlier version (no checksum) truncated, and one with its checksum whose bytes changed.
    async with opened(make_cache(tmp_path)) as cache:
        await cache.store([NewEntry.time_values(values(3), 1)])
        (stored,) = [entry.name for entry in cache.queued()]
    put_entry(tmp_path, "cache", "oldtruncated", values(1, 2), "2024-05-01T00:00:00.000Z", count=2)
    content = folder(tmp_path, "cache") / "content" / "oldtruncated"
    content.write_bytes(content.read_bytes()[:-3])
    content = folder(tmp_path, "cache") / "content" / stored
    content.write_bytes(content.read_bytes().replace(b"p3", b"p4"))
    logger = RecordingLogger()
    async with opened(make_cache(tmp_path, logger=logger)) as cache:
        assert cache.queued() == []
        errors = await cache.search("error")
    assert sorted(entry.name for entry in errors) == sorted(["oldtruncated", stored])
    assert logger.events("error").count("damaged cache content moved to the error folder") == 2
    assert b"p4" in (folder(tmp_path, "error") / "content" / stored).read_bytes()


async def test_reopen_rebuilds_the_same_queue(tmp_path: Path) -> None:
    async with opened(make_cache(tmp_path)) as cache:
        for i in range(5):
            await cache.store([NewEntry.time_values(values(i, i + 100), 2)])
        before = [(e.name, e.metadata) for e in cache.queued()]
        metrics_before = cache.metrics()
    async with opened(make_cache(tmp_path)) as cache:
        after = [(e.name, e.metadata) for e in cache.queued()]
        metrics_after = cache.metrics()
    assert after == before
    for key in ("currentCacheSize", "numberOfQueuedElements", "numberOfQueuedFiles"):
        assert metrics_after[key] == metrics_before[key]


class Crash(BaseException):
    """The process dies here: no cleanup handler (they catch OSError) runs."""


class CrashingOs:
    """Stands for ``os`` in the cache modules: counts file-changing calls and dies at the chosen one.

    Once dead, every later call dies too, as nothing runs after a kill -9. A write that dies leaves
    half its bytes, like a torn write.
    """

    STEPS = frozenset({"write", "fsync", "replace", "link", "unlink", "utime", "ftruncate", "truncate", "syncfs"})

    def __init__(self) -> None:
        self.crash_at: int | None = None
        self.steps = 0
        self.dead = False
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        real = north_files.sync_filesystem if name == "syncfs" else getattr(os, name)
        if name not in self.STEPS:
            return real

        def step(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                if self.crash_at is not None and (self.dead or self.steps == self.crash_at):
                    self.dead = True
                    if name == "write":
                        fd, data = args
                        os.write(fd, bytes(data)[: len(data) // 2])
                    raise Crash(name)
                self.steps += 1
            return real(*args, **kwargs)

        return step


async def crash_everywhere(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    prepare: Callable[[NorthCache], Awaitable[None]],
    operation: Callable[[NorthCache], Awaitable[Any]],
    check: Callable[[NorthCache, Path], None],
    *,
    syncfs: bool = False,
) -> int:
    """Run ``operation`` once per file operation it performs, dying at that operation; check each state."""
    fake = CrashingOs()
    monkeypatch.setattr(north_disk, "os", fake)
    monkeypatch.setattr(north_files, "os", fake)
    # syncfs is one step too: dying there leaves the group's files written but not known durable.
    monkeypatch.setattr(north_commit, "sync_filesystem", lambda path: fake.syncfs(path))

    async def attempt(data: Path, crash_at: int | None) -> int:
        fake.crash_at, fake.steps, fake.dead = None, 0, False
        cache = make_cache(data, caching(max_number_of_elements=6), syncfs=syncfs)
        await cache.open()
        await prepare(cache)
        fake.steps, fake.crash_at = 0, crash_at
        if crash_at is None:
            await operation(cache)
        else:
            with pytest.raises(Crash):
                await operation(cache)
        steps, fake.crash_at = fake.steps, None
        await cache.close()
        async with opened(make_cache(data)) as reopened:
            check_consistent(data)
            check(reopened, data)
        return steps

    total = await attempt(tmp_path / "complete", None)
    for crash_at in range(total):
        await attempt(tmp_path / f"crash{crash_at}", crash_at)
    return total


@pytest.mark.parametrize("syncfs", SYNC_MODES)
@pytest.mark.parametrize("spares", [False, True])
async def test_crash_at_every_step_of_a_store_leaves_whole_entries_or_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, syncfs: bool, spares: bool
) -> None:
    source = tmp_path / "report.csv"
    source.write_bytes(b"a;b\n" * 100)
    owned = tmp_path / "owned.csv"
    owned.write_bytes(b"owned\n" * 10)

    async def prepare(cache: NorthCache) -> None:
        if spares:
            # Entries sent and deleted earlier leave spare files that the new entries overwrite.
            await cache.store([NewEntry(content_type="any-content", payload=b"old" * 50) for _ in range(3)])
            await cache.storage.finish(cache.queued(), archive=False)
            await cache.storage.reaper.drain()
            assert len(cache.storage.disk.spares) == 6

    async def store(cache: NorthCache) -> None:
        entries = [
            NewEntry.time_values(values(1, 2, 3), 3),
            NewEntry.file(source),
            NewEntry.time_values(values(4), 1),
            NewEntry.file(owned, owned=True),
        ]
        assert await cache.store(entries) == [None, None, None, None]

    def check(cache: NorthCache, data: Path) -> None:
        files = {e.content_path.read_bytes() for e in cache.queued() if e.content_type == "any"}
        assert files <= {source.read_bytes(), owned.read_bytes()}
        assert owned.read_bytes() == b"owned\n" * 10
        numbers = [
            n
            for e in cache.queued()
            if e.content_type == "time-values"
            for n in numbers_of(e.content_path.read_bytes())
        ]
        # The two time-values entries were folded into one: both or neither.
        assert numbers in ([], [1, 2, 3, 4])

    steps = await crash_everywhere(tmp_path, monkeypatch, prepare, store, check, syncfs=syncfs)
    assert steps >= 10


async def test_crash_at_every_step_of_a_move_to_error_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = values(1, 2)

    async def prepare(cache: NorthCache) -> None:
        await cache.store([NewEntry.time_values(payload, 2)])

    async def move(cache: NorthCache) -> None:
        assert await cache.move("cache", [cache.queued()[0].name], "error") == 1

    def check(cache: NorthCache, data: Path) -> None:
        copies = [
            folder(data, where) / "content" / name for where in ("cache", "error") for name in names_in(data, where)
        ]
        assert copies, "the entry was lost"
        assert all(path.read_bytes() == payload for path in copies)

    await crash_everywhere(tmp_path, monkeypatch, prepare, move, check)


async def store_nine_in_three(cache: NorthCache) -> None:
    """Three entries holding the elements 1 to 9: (1, 2), (3, 4, 5), (6, 7, 8, 9)."""
    for batch in ((1, 2), (3, 4, 5), (6, 7, 8, 9)):
        await cache.store([NewEntry.time_values(values(*batch), len(batch))])


async def test_crash_at_every_step_of_a_compaction_loses_no_element(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def compact(cache: NorthCache) -> None:
        head = cache.queued()[0]
        merged, merge = await cache.storage.compact(head, 6)
        assert merge is not None and merged.number_of_element == 6

    def check(cache: NorthCache, data: Path) -> None:
        seen: list[int] = []
        for entry in cache.queued():
            seen.extend(numbers_of(entry.content_path.read_bytes()))
        first_seen = list(dict.fromkeys(seen))
        # Every element survives (duplicates allowed), and in the original order.
        assert first_seen == list(range(1, 10))

    await crash_everywhere(tmp_path, monkeypatch, store_nine_in_three, compact, check)


async def test_crash_at_every_step_after_a_merged_send_keeps_the_unsent_elements(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def sent(cache: NorthCache) -> None:
        # Elements 1 to 6 were sent from memory; 7, 8 and 9 were not and must survive.
        gathered = await cache.storage.gather(cache.queued()[0], 6)
        assert gathered is not None
        assert numbers_of(await gathered.entry.read_content()) == [1, 2, 3, 4, 5, 6]
        await cache.storage.finish_gathered(gathered)
        await cache.storage.reaper.drain()
        # The reaper's thread swallows the crash (it logs failed deletions): the process died all the same.
        fake = vars(north_disk)["os"]
        if isinstance(fake, CrashingOs) and fake.dead:
            raise Crash("in the reaper")

    def check(cache: NorthCache, data: Path) -> None:
        seen = [n for entry in cache.queued() for n in numbers_of(entry.content_path.read_bytes())]
        assert {7, 8, 9} <= set(seen)
        # What is left keeps its order (sent elements, or the unsent ones twice, may come again: duplicates
        # are allowed, loss is not).
        assert list(dict.fromkeys(n for n in seen if n >= 7)) == [7, 8, 9]

    steps = await crash_everywhere(tmp_path, monkeypatch, store_nine_in_three, sent, check)
    assert steps >= 4


_CHILD = """
import asyncio, sys
from pathlib import Path
from engine.cache.north.store import NorthStore
from engine.cache.north.types import NewEntry

class Log:
    def debug(self, event, /, **fields): pass
    info = warning = error = debug

async def main():
    store = NorthStore(Path(sys.argv[1]), "north-n1", logger=Log(), syncfs=sys.argv[2] == "True")
    await store.open()
    counter = iter(range(1, 10**9))

    async def worker():
        while True:
            n = next(counter)
            if n % 2:
                payload = ('[{"pointId":"p%d","timestamp":"t","data":{"value":%d}}]' % (n, n)).encode()
                entry = NewEntry.time_values(payload, 1)
            else:
                # Not folded together: groups of several entries, made durable by one syncfs or by fsyncs.
                entry = NewEntry(content_type="any-content", payload=b"%d" % n)
            assert await store.store([entry]) == [None]
            print(n, flush=True)

    await asyncio.gather(*(worker() for _ in range(8)))

asyncio.run(main())
"""


@pytest.mark.parametrize("syncfs", SYNC_MODES)
def test_kill_9_during_stores_keeps_every_acknowledged_entry(tmp_path: Path, syncfs: bool) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-c", _CHILD, str(tmp_path), str(syncfs)]
    child = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE)
    acknowledged: set[int] = set()
    try:
        assert child.stdout is not None
        while len(acknowledged) < 150:
            line = child.stdout.readline()
            assert line, f"child died early with {child.wait()}"
            acknowledged.add(int(line))
    finally:
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()

    async def reopen() -> set[int]:
        async with opened(make_cache(tmp_path)) as cache:
            stored: set[int] = set()
            for entry in cache.queued():
                content = entry.content_path.read_bytes()
                stored.update([int(content)] if entry.content_type == "any-content" else numbers_of(content))
            return stored

    stored = asyncio.run(reopen())
    check_consistent(tmp_path)
    assert acknowledged <= stored
