"""Folder-scanner South against real files in tmp_path and a real South cache (sqlite)."""

from __future__ import annotations

import asyncio
import gzip
import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from fakes import RecordingLogger, RecordingSink

from connectors import registry
from connectors.base import ConnectorContext, Item
from connectors.errors import ConnectorFatal, ConnectorNotReady
from connectors.manifest import secret_fields
from connectors.south.folder_scanner import MANIFEST, FolderScannerSouth
from connectors.south.folder_scanner import connector as scanner_module
from connectors.south.folder_scanner.connector import MAX_IN_FLIGHT
from connectors.south.folder_scanner.manifest import FolderScannerItemSettings, FolderScannerSettings
from engine.cache.south import SouthCacheDB

README = Path(__file__).resolve().parents[4] / "connectors" / "south" / "folder_scanner" / "README.md"
# A fixed past instant for file modification times: old enough for any minAge, and deterministic.
OLD_S = time.time() - 3600


@pytest.fixture
def input_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "input"
    folder.mkdir()
    return folder


@pytest.fixture
def cache_db(tmp_path: Path) -> Iterator[SouthCacheDB]:
    db = SouthCacheDB(tmp_path / "data" / "cache" / "cache.db")
    yield db
    db.close()


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def logger() -> RecordingLogger:
    return RecordingLogger()


class Harness:
    """Builds connectors and items the way the runner does (msgspec.convert of the wire settings)."""

    def __init__(
        self,
        tmp_path: Path,
        input_folder: Path,
        sink: RecordingSink,
        logger: RecordingLogger,
        db: SouthCacheDB,
    ) -> None:
        self.base_folder = tmp_path / "data" / "cache" / "south-s1"
        self.input_folder = input_folder
        self.sink = sink
        self.logger = logger
        self.db = db

    def south(self, **settings: Any) -> FolderScannerSouth:
        wire = {"inputFolder": str(self.input_folder), **settings}
        context = ConnectorContext(
            id="s1", name="Scanner", logger=self.logger, base_folder=self.base_folder, data_folder=self.base_folder
        )
        return FolderScannerSouth(
            msgspec.convert(wire, FolderScannerSettings), context, self.sink, self.db.for_south("s1")
        )

    @staticmethod
    def item(item_id: str = "i1", **settings: Any) -> Item[FolderScannerItemSettings]:
        wire = {"regex": r"\.csv$", "minAge": 0, **settings}
        return Item(
            id=item_id,
            name=f"item {item_id}",
            enabled=True,
            settings=msgspec.convert(wire, FolderScannerItemSettings),
        )

    def preserved(self, item_id: str = "i1") -> Any:
        return self.db.for_south("s1").get_value(item_id)


@pytest.fixture
def harness(
    tmp_path: Path, input_folder: Path, sink: RecordingSink, logger: RecordingLogger, cache_db: SouthCacheDB
) -> Harness:
    return Harness(tmp_path, input_folder, sink, logger, cache_db)


def names(folder: Path) -> list[str]:
    """Sorted names in ``folder`` (a sync helper: the async tests must not block on pathlib directly)."""
    return sorted(path.name for path in folder.iterdir())


def chmod(path: Path, mode: int) -> None:
    path.chmod(mode)


def write(path: Path, content: str | bytes, age_order: int = 0) -> Path:
    """Create a file whose modification time is in the past; a larger ``age_order`` is newer."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content)
    else:
        path.write_bytes(content)
    stamp = OLD_S + age_order
    os.utime(path, (stamp, stamp))
    return path


async def test_sends_matching_files_and_deletes_them(harness: Harness, input_folder: Path) -> None:
    write(input_folder / "a.csv", "a,1")
    write(input_folder / "b.csv", "b,2")
    write(input_folder / "notes.txt", "not me")
    south = harness.south()
    await south.start()

    await south.last_file([harness.item(preserveFiles=False)])

    assert sorted(harness.sink.filenames) == ["a.csv", "b.csv"]
    assert harness.sink.file("a.csv").data == b"a,1"
    # Deleted once handed over: the Norths may hard-link it rather than copy it.
    assert harness.sink.file("a.csv").owned
    assert names(input_folder) == ["notes.txt"]
    assert harness.logger.find("files sent") == [{"item": "item i1", "sent": 2, "skipped": 0, "kept": False}]
    await south.stop()
    await south.stop()


async def test_regex_is_searched_in_the_file_name(harness: Harness, input_folder: Path) -> None:
    write(input_folder / "data_1.csv", "x")
    write(input_folder / "other_1.csv", "y")
    await harness.south().last_file([harness.item(regex=r"^data_\d+")])
    assert harness.sink.filenames == ["data_1.csv"]


async def test_files_younger_than_min_age_wait(harness: Harness, input_folder: Path) -> None:
    write(input_folder / "old.csv", "old")
    fresh = input_folder / "fresh.csv"
    fresh.write_text("being written")  # Modified just now.
    await harness.south().last_file([harness.item(minAge=60_000, preserveFiles=False)])
    assert harness.sink.filenames == ["old.csv"]
    assert fresh.exists()


async def test_preserved_files_are_sent_once_then_again_when_modified(harness: Harness, input_folder: Path) -> None:
    a = write(input_folder / "a.csv", "v1", age_order=1)
    write(input_folder / "b.csv", "b", age_order=2)
    south = harness.south()
    item = harness.item(preserveFiles=True)

    await south.last_file([item])
    assert sorted(harness.sink.filenames) == ["a.csv", "b.csv"]
    # Kept in place, so it may change later: the Norths must copy it.
    assert not any(recorded.owned for recorded in harness.sink.files)
    assert a.exists()
    preserved = {entry["filename"]: entry["modifiedTime"] for entry in harness.preserved()}
    assert preserved == {"a.csv": int((OLD_S + 1) * 1000), "b.csv": int((OLD_S + 2) * 1000)}

    await south.last_file([item])
    assert len(harness.sink.files) == 2

    write(a, "v2", age_order=100)
    await south.last_file([item])
    assert harness.sink.filenames[2:] == ["a.csv"]
    assert harness.sink.files[2].data == b"v2"


async def test_ignore_modified_date_never_resends(harness: Harness, input_folder: Path) -> None:
    a = write(input_folder / "a.csv", "v1")
    south = harness.south()
    item = harness.item(preserveFiles=True, ignoreModifiedDate=True)
    await south.last_file([item])
    write(a, "v2", age_order=100)
    await south.last_file([item])
    assert harness.sink.filenames == ["a.csv"]


async def test_preserved_list_forgets_files_that_left_the_folder(harness: Harness, input_folder: Path) -> None:
    a = write(input_folder / "a.csv", "a")
    write(input_folder / "b.csv", "b")
    south = harness.south()
    item = harness.item(preserveFiles=True)
    await south.last_file([item])
    a.unlink()
    await south.last_file([item])
    assert [entry["filename"] for entry in harness.preserved()] == ["b.csv"]


async def test_reads_an_upstream_preserved_list(harness: Harness, input_folder: Path) -> None:
    a = write(input_folder / "a.csv", "a")
    mtime_ms = a.stat().st_mtime_ns / 1_000_000  # Upstream stored Node's fractional mtimeMs.
    harness.db.for_south("s1").set_value("i1", [{"filename": "a.csv", "modifiedTime": mtime_ms}, "junk"])
    await harness.south().last_file([harness.item(preserveFiles=True)])
    assert harness.sink.files == []


async def test_recursive_scan_uses_relative_names(harness: Harness, input_folder: Path) -> None:
    write(input_folder / "top.csv", "top")
    write(input_folder / "2024" / "03" / "deep.csv", "deep")
    write(input_folder / "2024" / "skip.txt", "no")

    await harness.south().last_file([harness.item("flat", preserveFiles=True)])
    assert harness.sink.filenames == ["top.csv"]

    await harness.south().last_file([harness.item("deep", preserveFiles=False, recursive=True)])
    assert sorted(harness.sink.filenames[1:]) == ["2024/03/deep.csv", "top.csv"]
    assert harness.sink.file("2024/03/deep.csv").data == b"deep"
    assert not (input_folder / "2024" / "03" / "deep.csv").exists()
    assert (input_folder / "2024" / "skip.txt").exists()


async def test_compression_hands_over_an_owned_gzip_and_cleans_scratch(harness: Harness, input_folder: Path) -> None:
    payload = b"t,v\n" * 10_000
    write(input_folder / "sub" / "big.csv", payload)
    south = harness.south(compression=True)
    await south.start()

    await south.last_file([harness.item(preserveFiles=False, recursive=True)])

    recorded = harness.sink.file("sub/big.csv.gz")
    assert recorded.owned
    assert gzip.decompress(recorded.data) == payload
    assert len(recorded.data) < len(payload)
    assert recorded.path.parent == harness.base_folder / "tmp"
    assert names(harness.base_folder / "tmp") == []
    assert not (input_folder / "sub" / "big.csv").exists()


async def test_start_removes_scratch_left_by_a_crash(harness: Harness) -> None:
    tmp = harness.base_folder / "tmp"
    tmp.mkdir(parents=True)
    (tmp / "dead.scan.gz").write_bytes(b"x")
    await harness.south().start()
    assert names(tmp) == []


async def test_refused_files_stay_and_are_logged_once(harness: Harness, input_folder: Path) -> None:
    for index in range(5):
        write(input_folder / f"f{index}.csv", str(index), age_order=index)
    write(input_folder / "p.csv", "p")
    south = harness.south()
    harness.sink.refuse = True

    await south.last_file(
        [
            harness.item("i1", regex="^f", preserveFiles=False),
            harness.item("i2", regex="^p", preserveFiles=True),
        ]
    )

    assert harness.sink.files == []
    assert harness.sink.refused >= 2
    assert len(names(input_folder)) == 6
    assert harness.preserved("i2") is None
    assert harness.logger.events("warning") == ["files kept for next scan"]

    harness.sink.refuse = False
    await south.last_file([harness.item("i1", regex="^f", preserveFiles=False)])
    assert sorted(harness.sink.filenames) == [f"f{index}.csv" for index in range(5)]
    assert names(input_folder) == ["p.csv"]


async def test_max_files_takes_the_oldest_first(harness: Harness, input_folder: Path) -> None:
    for index in range(5):
        write(input_folder / f"f{index}.csv", str(index), age_order=10 - index)
    south = harness.south()
    item = harness.item(preserveFiles=False, maxFiles=2)
    await south.last_file([item])
    assert sorted(harness.sink.filenames) == ["f3.csv", "f4.csv"]
    await south.last_file([item])
    assert sorted(harness.sink.filenames[2:]) == ["f1.csv", "f2.csv"]


async def test_max_size_is_a_per_scan_budget_in_megabytes(harness: Harness, input_folder: Path) -> None:
    six_hundred_kb = b"x" * 600 * 1024
    write(input_folder / "a.csv", six_hundred_kb, age_order=1)
    write(input_folder / "b.csv", six_hundred_kb, age_order=2)
    write(input_folder / "c.csv", b"y" * 300 * 1024, age_order=3)
    south = harness.south()
    item = harness.item(preserveFiles=False, maxSize=1)

    await south.last_file([item])  # a (600 KB) fits; a + b (1200 KB) would exceed 1 MB.
    assert harness.sink.filenames == ["a.csv"]
    await south.last_file([item])  # b + c = 900 KB fits.
    assert sorted(harness.sink.filenames[1:]) == ["b.csv", "c.csv"]


async def test_a_file_larger_than_max_size_still_goes_alone(harness: Harness, input_folder: Path) -> None:
    write(input_folder / "huge.csv", b"z" * (2 * 1024 * 1024), age_order=1)
    write(input_folder / "small.csv", b"s", age_order=2)
    south = harness.south()
    item = harness.item(preserveFiles=False, maxSize=1)
    await south.last_file([item])
    assert harness.sink.filenames == ["huge.csv"]
    await south.last_file([item])
    assert harness.sink.filenames == ["huge.csv", "small.csv"]


BATCH = 8
"""Files per ``add_files`` call in the tests below (the real batches are larger)."""


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scanner_module, "FILES_PER_BATCH", BATCH)


@pytest.mark.usefixtures("small_batches")
async def test_hand_overs_are_batched_and_pipelined_up_to_the_limit(harness: Harness, input_folder: Path) -> None:
    count = MAX_IN_FLIGHT * BATCH + 5
    for index in range(count):
        write(input_folder / f"f{index:03d}.csv", str(index), age_order=index)
    harness.sink.gate = asyncio.Event()
    south = harness.south()

    async with asyncio.TaskGroup() as group:
        run = group.create_task(south.last_file([harness.item(preserveFiles=False)]), name="s1:last-file")
        await harness.sink.wait_in_flight(MAX_IN_FLIGHT)
        for _ in range(20):
            await asyncio.sleep(0)
        # The limit holds, and nothing was deleted while its hand-over was pending.
        assert harness.sink.in_flight == MAX_IN_FLIGHT
        assert len(names(input_folder)) == count
        harness.sink.gate.set()
    await run

    assert harness.sink.max_in_flight == MAX_IN_FLIGHT
    assert sorted(harness.sink.batches) == [5] + [BATCH] * MAX_IN_FLIGHT
    assert sorted(harness.sink.filenames) == [f"f{index:03d}.csv" for index in range(count)]
    assert all(recorded.owned for recorded in harness.sink.files)
    assert names(input_folder) == []
    assert harness.logger.find("files sent") == [{"item": "item i1", "sent": count, "skipped": 0, "kept": False}]


@pytest.mark.usefixtures("small_batches")
@pytest.mark.parametrize("compression", [False, True], ids=["raw", "gzip"])
async def test_vanished_files_are_skipped_not_fatal(harness: Harness, input_folder: Path, compression: bool) -> None:
    count = MAX_IN_FLIGHT * BATCH + 3
    for index in range(count):
        write(input_folder / f"f{index:03d}.csv", str(index), age_order=index)
    harness.sink.gate = asyncio.Event()
    south = harness.south(compression=compression)
    await south.start()
    vanished = range(MAX_IN_FLIGHT * BATCH, count - 1)

    async with asyncio.TaskGroup() as group:
        run = group.create_task(south.last_file([harness.item(preserveFiles=False)]), name="s1:last-file")
        await harness.sink.wait_in_flight(MAX_IN_FLIGHT)
        # Listed, but deleted by someone else before their batch's turn came (before reading or compressing).
        for index in vanished:
            (input_folder / f"f{index:03d}.csv").unlink()
        harness.sink.gate.set()
    await run

    # The batch that lost files is handed over file by file: the file still there is sent, the others skipped.
    kept = [f"f{index:03d}.csv" for index in range(count) if index not in vanished]
    suffix = ".gz" if compression else ""
    assert sorted(harness.sink.filenames) == [f"{name}{suffix}" for name in kept]
    skipped = harness.logger.find("file skipped")
    assert sorted(record["path"] for record in skipped) == [
        str(input_folder / f"f{index:03d}.csv") for index in vanished
    ]
    assert harness.logger.find("files sent")[0]["skipped"] == len(vanished)
    assert names(input_folder) == []
    assert names(harness.base_folder / "tmp") == []


async def test_batches_are_bounded_in_bytes_and_a_larger_file_goes_alone(
    harness: Harness, input_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scanner_module, "BATCH_BYTES", 10)
    for index, size in enumerate([4, 4, 4, 25, 1, 9]):
        write(input_folder / f"f{index}.csv", b"x" * size, age_order=index)
    await harness.south().last_file([harness.item(preserveFiles=False)])
    # 4 + 4, then 4 (a 25-byte file would pass the limit), 25 alone, 1 + 9. Batches of one use add_file.
    assert sorted(harness.sink.batches) == [2, 2]
    assert sorted(harness.sink.filenames) == [f"f{index}.csv" for index in range(6)]
    assert names(input_folder) == []


@pytest.mark.usefixtures("small_batches")
async def test_a_refused_batch_keeps_every_file_of_it(harness: Harness, input_folder: Path) -> None:
    for index in range(2 * BATCH):
        write(input_folder / f"f{index:03d}.csv", str(index), age_order=index)
    south = harness.south()
    harness.sink.refuse = True
    await south.last_file([harness.item(preserveFiles=False)])
    assert harness.sink.files == []
    assert len(names(input_folder)) == 2 * BATCH
    assert harness.logger.events("warning") == ["files kept for next scan"]


async def test_missing_folder_is_reported_with_its_path(harness: Harness, tmp_path: Path) -> None:
    harness.input_folder = tmp_path / "nowhere"
    south = harness.south()
    message = re.escape(str(tmp_path / "nowhere"))
    with pytest.raises(ConnectorNotReady, match=f"input folder {message} does not exist"):
        await south.test_connection()
    with pytest.raises(ConnectorNotReady, match=message):
        await south.start()
    with pytest.raises(ConnectorNotReady, match=message):
        await south.last_file([harness.item()])


async def test_a_file_is_not_a_folder(harness: Harness, tmp_path: Path) -> None:
    harness.input_folder = write(tmp_path / "plain.txt", "x")
    with pytest.raises(ConnectorFatal, match="is not a folder"):
        await harness.south().test_connection()


async def test_connection_ok(harness: Harness) -> None:
    await harness.south().test_connection()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="permissions do not bind root")
async def test_unreadable_folder(harness: Harness, input_folder: Path) -> None:
    chmod(input_folder, 0)
    try:
        with pytest.raises(ConnectorNotReady, match="not readable"):
            await harness.south().test_connection()
    finally:
        chmod(input_folder, 0o755)


@pytest.mark.skipif(os.name != "posix", reason="a symbolic link loop stands in for an unreadable entry")
async def test_unreadable_entries_are_logged_once_until_they_recover(harness: Harness, input_folder: Path) -> None:
    write(input_folder / "good.csv", "ok")
    # A link to itself matches the regex but cannot be read (ELOOP), whatever our privileges.
    loop = input_folder / "loop.csv"
    loop.symlink_to(loop)
    south = harness.south()
    item = harness.item(preserveFiles=True)
    for _ in range(3):
        await south.last_file([item])
    assert harness.sink.filenames == ["good.csv"]
    assert [record["path"] for record in harness.logger.find("file skipped")] == [str(loop)]

    loop.unlink()
    write(loop, "fixed")
    await south.last_file([item])
    assert harness.logger.find("file readable again") == [{"item": "item i1", "path": str(loop)}]
    assert harness.sink.filenames == ["good.csv", "loop.csv"]


async def test_smb_credentials_are_reported_unused(harness: Harness) -> None:
    await harness.south(username="op", password="secret", domain="PLANT").start()
    assert harness.logger.events("warning") == ["smb credentials ignored"]
    assert "secret" not in repr(harness.logger.records)


def test_settings_defaults_and_validation() -> None:
    settings = msgspec.convert({"inputFolder": "./input"}, FolderScannerSettings)
    assert settings.compression is False
    assert settings.password is None
    item = msgspec.convert({"regex": ".*"}, FolderScannerItemSettings)
    assert (item.min_age, item.preserve_files, item.ignore_modified_date) == (1000, True, False)
    assert (item.max_files, item.max_size, item.recursive) == (0, 0, False)
    with pytest.raises(msgspec.ValidationError, match="invalid regular expression"):
        msgspec.convert({"regex": "(unclosed"}, FolderScannerItemSettings)
    with pytest.raises(msgspec.ValidationError, match=r"minAge"):
        msgspec.convert({"regex": ".*", "minAge": -1}, FolderScannerItemSettings)


def test_manifest_and_registry() -> None:
    assert MANIFEST.id == "folder-scanner"
    assert MANIFEST.modes.last_file
    assert not (MANIFEST.modes.last_point or MANIFEST.modes.history or MANIFEST.modes.subscription)
    assert secret_fields(FolderScannerSettings) == {"password"}
    assert registry.connector_class("south", "folder-scanner") is FolderScannerSouth
    assert registry.manifest("south", "folder-scanner") is MANIFEST
    assert MANIFEST.to_dto()["settings"]["$defs"]["FolderScannerSettings"]["properties"]["password"]["secret"]


def _readme_fields(section: str) -> list[str]:
    """Field names of the first table after the ``## <section>`` heading of the README."""
    after = README.read_text().split(f"\n## {section}\n", 1)[1].lstrip("\n")
    table = after.split("\n\n", 1)[0]
    return re.findall(r"^\| `(\w+)` \|", table, flags=re.MULTILINE)


def test_readme_tables_match_the_manifest() -> None:
    def wire_names(struct: type[msgspec.Struct]) -> list[str]:
        info = msgspec.inspect.type_info(struct)
        assert isinstance(info, msgspec.inspect.StructType)
        return [field.encode_name for field in info.fields]

    assert _readme_fields("Settings") == wire_names(FolderScannerSettings)
    assert _readme_fields("Item settings") == wire_names(FolderScannerItemSettings)


async def test_item_test_lists_what_a_scan_would_take_and_changes_nothing(
    harness: Harness, input_folder: Path, tmp_path: Path
) -> None:
    write(input_folder / "sent.csv", "already sent", age_order=1)
    write(input_folder / "b.csv", "b", age_order=3)
    write(input_folder / "a.csv", "a", age_order=2)
    write(input_folder / "notes.txt", "not me")
    write(input_folder / "fresh.csv", "too young").touch()  # Modified now: younger than minAge.
    # Sent at its current modification time (plus a margin for the float file times).
    sent = [{"filename": "sent.csv", "modifiedTime": int((OLD_S + 1) * 1000) + 500}]
    harness.db.for_south("s1").set_value("i1", sent)
    south = harness.south(compression=True)
    item = harness.item(preserveFiles=True, minAge=60_000)

    await south.test_item(item, datetime.now(UTC), datetime.now(UTC))

    # Oldest first, as a scan hands them over; the preserved list and minAge apply; one value per file.
    assert [value["data"]["value"] for value in harness.sink.values] == ["a.csv", "b.csv"]
    assert harness.sink.value_items == [["i1"]]
    first = harness.sink.values[0]
    assert first["pointId"] == "item i1"
    modified_ms = (input_folder / "a.csv").stat().st_mtime_ns // 1_000_000
    stamp = datetime.fromtimestamp(modified_ms // 1000, UTC).replace(microsecond=modified_ms % 1000 * 1000)
    assert first["timestamp"] == stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    # Nothing sent, compressed, deleted or remembered.
    assert harness.sink.files == []
    assert names(input_folder) == ["a.csv", "b.csv", "fresh.csv", "notes.txt", "sent.csv"]
    assert harness.preserved() == sent
    assert not (harness.base_folder / "tmp").exists() or names(harness.base_folder / "tmp") == []


async def test_item_test_applies_the_limits_and_reports_a_missing_folder(harness: Harness, tmp_path: Path) -> None:
    for index in range(5):
        write(harness.input_folder / f"f{index}.csv", "x", age_order=index)
    await harness.south().test_item(harness.item(maxFiles=2), datetime.now(UTC), datetime.now(UTC))
    assert [value["data"]["value"] for value in harness.sink.values] == ["f0.csv", "f1.csv"]

    harness.input_folder = tmp_path / "gone"
    with pytest.raises(ConnectorNotReady, match="does not exist"):
        await harness.south().test_item(harness.item(), datetime.now(UTC), datetime.now(UTC))
