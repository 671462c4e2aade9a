"""North cache: durable stores, group commit, layout and metadata, maxSize refusals."""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import zlib
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

from engine.cache.north import NewEntry
from engine.cache.north import commit as north_commit
from engine.cache.north import disk as north_disk
from engine.cache.north import files as north_files

NAME = re.compile(r"^[A-Za-z0-9]{12}$")
CREATED_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def test_layout_and_time_values_metadata(tmp_path: Path) -> None:
    # Odd spacing proves the payload is stored as given, never re-encoded.
    payload = b'[ {"pointId": "a", "timestamp": "2024-05-01T00:00:00.000Z", "data": {"value": 1.50}} ]'
    async with opened(make_cache(tmp_path)) as cache:
        assert await cache.store([NewEntry.time_values(payload, 1)]) == [None]

    for where, subs in (("cache", {"content", "metadata", "tmp"}), ("error", {"content", "metadata"})):
        assert {p.name for p in folder(tmp_path, where).iterdir()} == subs
    assert {p.name for p in folder(tmp_path, "archive").iterdir()} == {"content", "metadata"}
    (name,) = names_in(tmp_path, "cache")
    assert NAME.match(name)
    assert names_in(tmp_path, "cache", "content") == {name}
    assert names_in(tmp_path, "cache", "tmp") == set()
    assert (folder(tmp_path, "cache") / "content" / name).read_bytes() == payload
    metadata = json.loads((folder(tmp_path, "cache") / "metadata" / name).read_bytes())
    # Upstream's five fields, then the checksum of the content (upstream ignores a field it does not know).
    assert list(metadata) == ["contentFile", "contentSize", "numberOfElement", "createdAt", "contentType", "checksum"]
    assert metadata["checksum"] == f"crc32:{zlib.crc32(payload):08x}"
    assert metadata["contentFile"] == f"{name}.json"
    assert metadata["contentSize"] == len(payload)
    assert metadata["numberOfElement"] == 1
    assert metadata["contentType"] == "time-values"
    assert CREATED_AT.match(metadata["createdAt"])


async def test_any_file_is_copied_or_linked_when_owned(tmp_path: Path) -> None:
    source = tmp_path / "in" / "report.csv"
    source.parent.mkdir()
    source.write_bytes(b"a;b\n1;2\n")
    scratch = tmp_path / "in" / "scratch.bin"
    scratch.write_bytes(b"\x00\x01\x02")
    async with opened(make_cache(tmp_path / "data")) as cache:
        result = await cache.store(
            [
                NewEntry.file(source, filename="sub/dir/report.csv"),
                NewEntry.file(scratch, owned=True),
            ]
        )
        assert result == [None, None]
        copied, linked = cache.queued()
    assert copied.content_file == "sub/dir/report.csv"
    assert copied.number_of_element == 0
    assert copied.content_path.read_bytes() == b"a;b\n1;2\n"
    assert copied.content_path.stat().st_ino != source.stat().st_ino
    assert linked.content_file == "scratch.bin"
    assert linked.content_path.stat().st_ino == scratch.stat().st_ino
    # The cache never deletes the source: the caller owns its name.
    assert source.exists() and scratch.exists()


async def test_any_content_gets_a_text_name(tmp_path: Path) -> None:
    async with opened(make_cache(tmp_path)) as cache:
        await cache.store([NewEntry(content_type="any-content", payload=b"hello", count=1)])
        (entry,) = cache.queued()
    assert entry.content_file == f"{entry.name}.txt"
    assert entry.content_path.read_bytes() == b"hello"


async def test_missing_source_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    refused: list[tuple[str, int]] = []
    logger = RecordingLogger()
    cache = make_cache(tmp_path, logger=logger, on_refused=lambda reason, size: refused.append((reason, size)))
    async with opened(cache):
        result = await cache.store([NewEntry.file(tmp_path / "nope.csv"), NewEntry.time_values(values(1), 1)])
        assert result[0] is not None and "missing" in result[0]
        assert result[1] is None
        assert len(cache.queued()) == 1
        assert cache.metrics()["refusedCount"] == 1
    assert len(names_in(tmp_path, "cache", "content")) == 1
    assert len(names_in(tmp_path, "cache")) == 1
    assert names_in(tmp_path, "cache", "tmp") == set()
    assert [reason for reason, _ in refused] == [result[0]]
    assert logger.events("warning") == ["cache entry refused"]


def test_new_entry_needs_exactly_one_source() -> None:
    with pytest.raises(ValueError):
        NewEntry(content_type="time-values")
    with pytest.raises(ValueError):
        NewEntry(content_type="any", payload=b"[]", file_path=Path("x"))


async def test_store_on_a_closed_cache_raises(tmp_path: Path) -> None:
    cache = make_cache(tmp_path)
    async with opened(cache):
        pass
    with pytest.raises(RuntimeError):
        await cache.store([NewEntry.time_values(values(1), 1)])


class _Recorder:
    """Records the file operations of a group commit in the order they happen."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.events: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        real_write, real_fsync_dir = north_files.write_durable, north_files.fsync_dir

        def write_durable(path: str | Path, data: bytes, *, sync: bool = True) -> None:
            real_write(path, data, sync=sync)
            self._add("fsynced" if sync else "written", Path(path).name)

        def fsync_dir(path: Path) -> None:
            real_fsync_dir(path)
            self._add("dir-fsynced", path.name)

        recorder = self

        class _Os:
            def __getattr__(self, name: str) -> Any:
                return getattr(os, name)

            @staticmethod
            def replace(source: Path, target: Path) -> None:
                os.replace(source, target)
                recorder._add("renamed", f"{Path(target).parent.name}/{Path(target).name}")

        real_syncfs = north_files.sync_filesystem

        def sync_filesystem(path: Path) -> None:
            real_syncfs(path)
            self._add("syncfs", path.name)

        monkeypatch.setattr(north_disk, "write_durable", write_durable)
        monkeypatch.setattr(north_disk, "fsync_dir", fsync_dir)
        monkeypatch.setattr(north_commit, "fsync_dir", fsync_dir)
        monkeypatch.setattr(north_commit, "sync_filesystem", sync_filesystem)
        monkeypatch.setattr(north_disk, "os", _Os())

    def _add(self, kind: str, what: str) -> None:
        with self._lock:
            self.events.append((kind, what))

    def index(self, kind: str, what: str) -> int:
        return self.events.index((kind, what))


@pytest.mark.parametrize("syncfs", SYNC_MODES)
async def test_group_commit_orders_writes_renames_and_directory_fsyncs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, syncfs: bool
) -> None:
    async with opened(make_cache(tmp_path, coalesce=False, syncfs=syncfs)) as cache:
        recorder = _Recorder(monkeypatch)
        result = await cache.store([NewEntry.time_values(values(i), 1) for i in range(5)])
        # Everything, directory fsyncs included, happened before store() returned.
        events = list(recorder.events)
        names = [entry.name for entry in cache.queued()]
    assert result == [None] * 5
    kinds = [kind for kind, _ in events]
    assert kinds.count("dir-fsynced") == (3 if syncfs else 2)
    last_rename = max(i for i, kind in enumerate(kinds) if kind == "renamed")
    first_rename = kinds.index("renamed")
    assert recorder.index("dir-fsynced", "content") > last_rename
    assert recorder.index("dir-fsynced", "metadata") > last_rename
    if syncfs:
        # Written without fsync, then one syncfs and a barrier for the whole group, before any rename.
        assert kinds.count("syncfs") == 1
        assert "fsynced" not in kinds
        last_write = max(i for i, kind in enumerate(kinds) if kind == "written")
        assert last_write < recorder.index("syncfs", "tmp") < recorder.index("dir-fsynced", "tmp") < first_rename
    for name in names:
        content_renamed = recorder.index("renamed", f"content/{name}")
        metadata_renamed = recorder.index("renamed", f"metadata/{name}")
        assert content_renamed < metadata_renamed
        if not syncfs:
            assert recorder.index("fsynced", f"{name}.content") < content_renamed
            assert recorder.index("fsynced", f"{name}.metadata") < metadata_renamed


async def test_concurrent_stores_share_one_group_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = threading.Event()
    first = threading.Event()
    real_write = north_files.write_durable

    def held_write(path: Path, data: bytes, *, sync: bool = True) -> None:
        # Hold the first group on its first write until every other caller has queued up.
        if not first.is_set():
            first.set()
            gate.wait(5)
        real_write(path, data, sync=sync)

    for coalesce in (False, True):
        first.clear()
        gate.clear()
        data = tmp_path / str(coalesce)
        async with opened(make_cache(data, coalesce=coalesce)) as cache:
            monkeypatch.setattr(north_disk, "write_durable", held_write)
            leader = asyncio.ensure_future(cache.store([NewEntry.time_values(values(0), 1)]))
            await asyncio.to_thread(first.wait, 5)
            followers = [asyncio.ensure_future(cache.store([NewEntry.time_values(values(i), 1)])) for i in range(1, 21)]
            await asyncio.sleep(0)
            gate.set()
            results = await asyncio.gather(leader, *followers)
            assert results == [[None]] * 21
            assert cache.storage.committer.groups_committed == 2
            queued = cache.queued()
            monkeypatch.undo()
        assert [n for e in queued for n in numbers_of(e.content_path.read_bytes())] == list(range(21))
        # Coalesced, the second group of 20 entries is a single cache entry.
        assert len(queued) == (2 if coalesce else 21)
        assert len(names_in(data, "cache")) == len(queued)


async def test_coalescing_folds_json_arrays_per_type_in_order_within_the_limit(tmp_path: Path) -> None:
    source = tmp_path / "a.csv"
    source.write_bytes(b"a")
    async with opened(make_cache(tmp_path / "d", caching(max_number_of_elements=3))) as cache:
        result = await cache.store(
            [
                NewEntry.time_values(values(1), 1),
                NewEntry.file(source),
                NewEntry.time_values(values(2), 1),
                NewEntry(content_type="any-content", payload=b"text"),
                NewEntry.time_values(b"not json", 1),
                NewEntry.time_values(values(3), 1),
                NewEntry.time_values(values(4, 5), 2),
                NewEntry(content_type="setpoint", payload=b'[{"reference":"r","value":1}]', count=1),
            ]
        )
        assert result == [None] * 8
        entries = cache.queued()
        metrics = cache.metrics()
    time_values = [
        numbers_of(e.content_path.read_bytes())
        for e in entries
        if e.content_type == "time-values" and e.content_path.read_bytes() != b"not json"
    ]
    # Whole entries only, never more than maxNumberOfElements together, order kept.
    assert time_values == [[1, 2, 3], [4, 5]]
    assert sorted(e.content_type for e in entries) == [
        "any",
        "any-content",
        "setpoint",
        "time-values",
        "time-values",
        "time-values",
    ]
    assert metrics["numberOfQueuedElements"] == 3 + 2 + 1 + 1
    assert len({e.created_at for e in entries}) == 1


async def test_coalesced_entries_are_refused_together(tmp_path: Path) -> None:
    refused: list[tuple[str, int]] = []
    settings = caching(max_size=1, max_number_of_elements=0)
    cache = make_cache(tmp_path, settings, on_refused=lambda reason, size: refused.append((reason, size)))
    # One element each: together (1.2 MB) they pass maxSize, alone each would fit.
    half = json.dumps([{"pointId": "p", "timestamp": "t", "data": {"value": "x" * 600 * 1024}}]).encode()
    async with opened(cache):
        result = await cache.store([NewEntry.time_values(half, 1), NewEntry.time_values(half, 1)])
        assert all(reason is not None and "full" in reason for reason in result)
        assert cache.metrics()["refusedCount"] == 2
        assert cache.metrics()["refusedSize"] == 2 * len(half)
        assert cache.queued() == []
    assert [size for _, size in refused] == [len(half), len(half)]
    assert names_in(tmp_path, "cache", "content") == names_in(tmp_path, "cache", "tmp") == set()


async def test_max_size_refuses_loudly_and_counts(tmp_path: Path) -> None:
    big = b"[" + b" " * (600 * 1024) + b"]"
    logger = RecordingLogger()
    refused: list[tuple[str, int]] = []
    cache = make_cache(
        tmp_path,
        caching(max_size=1),
        logger=logger,
        on_refused=lambda reason, size: refused.append((reason, size)),
    )
    async with opened(cache):
        assert await cache.store([NewEntry.time_values(big, 0)]) == [None]
        second = await cache.store([NewEntry.time_values(big, 0)])
        third = await cache.store([NewEntry.time_values(big, 0)])
        small = await cache.store([NewEntry.time_values(values(1), 1)])
        metrics = cache.metrics()
        assert second[0] is not None and "full" in second[0]
        assert third == second
        assert small == [None]
        assert metrics["refusedCount"] == 2
        assert metrics["refusedSize"] == 2 * len(big)
        assert [size for _, size in refused] == [len(big), len(big)]
        # Warned once for both refusals: at most one warning a minute.
        assert logger.events("warning") == ["cache entry refused"]
        assert len(cache.queued()) == 2

        # Error and archive count too: with the big entry in error/, a second big one still does not fit.
        big_name = cache.queued()[0].name
        assert await cache.move("cache", [big_name], "error") == 1
        assert (await cache.store([NewEntry.time_values(big, 0)]))[0] is not None
        await cache.remove("error", [big_name])
        assert await cache.store([NewEntry.time_values(big, 0)]) == [None]
    assert names_in(tmp_path, "cache", "tmp") == set()
    assert len(names_in(tmp_path, "cache", "content")) == 2


async def test_live_max_size_update(tmp_path: Path) -> None:
    async with opened(make_cache(tmp_path, caching(max_size=1))) as cache:
        big = b"[" + b" " * (1024 * 1024) + b"]"
        assert (await cache.store([NewEntry.time_values(big, 0)]))[0] is not None
        cache.update_settings(caching(max_size=2))
        assert await cache.store([NewEntry.time_values(big, 0)]) == [None]


async def test_sizes_and_cumulative_metrics(tmp_path: Path) -> None:
    payload = values(1, 2, 3)
    async with opened(make_cache(tmp_path)) as cache:
        await cache.store([NewEntry.time_values(payload, 3), NewEntry(content_type="any-content", payload=b"x")])
        metrics = cache.metrics()
        on_disk = sum(
            p.stat().st_size for sub in ("content", "metadata") for p in (folder(tmp_path, "cache") / sub).iterdir()
        )
    assert metrics["currentCacheSize"] == on_disk
    assert metrics["contentCachedSize"] == len(payload) + 1
    assert metrics["numberOfQueuedElements"] == 3
    assert metrics["numberOfQueuedFiles"] == 1
    assert metrics["currentErrorSize"] == metrics["currentArchiveSize"] == 0


async def test_entries_stored_in_the_same_millisecond_come_back_in_store_order(tmp_path: Path) -> None:
    async with opened(make_cache(tmp_path, coalesce=False)) as cache:
        await cache.store([NewEntry.time_values(values(n), 1) for n in range(50)])
        for n in range(50, 60):
            await cache.store([NewEntry.time_values(values(n), 1)])
        before = [entry.name for entry in cache.queued()]
    # Names grow with time: (createdAt, name), the order of a rebuilt queue, is the order of the stores.
    assert before == sorted(before)
    assert all(len(name) == 12 and name.isalnum() for name in before)
    async with opened(make_cache(tmp_path)) as cache:
        assert [entry.name for entry in cache.queued()] == before
        assert [n for e in cache.queued() for n in numbers_of(e.content_path.read_bytes())] == list(range(60))
