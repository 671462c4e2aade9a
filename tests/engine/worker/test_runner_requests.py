"""Requests a worker answers: concurrency, connection and item tests on scratch instances, the test sink and cache."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from fakes import RecordingLogger, RecordingSink

from connectors.base import ConnectorContext, Item, SouthConnector, TimeValue
from connectors.errors import ConnectorError
from connectors.manifest import ConnectorManifest, Modes
from connectors.south.folder_scanner import FolderScannerSouth
from engine.cache.south import SouthCacheDB
from engine.ipc import Message, Reply, Request, Start
from engine.worker.channel import Channel
from engine.worker.south import MAX_TEST_VALUES, CapturingSink, ScratchCache, SouthRunner

OLD_S = time.time() - 3600


class RecordingChannel(Channel):
    """A channel that keeps the frames the runner sends."""

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.closed = False
        self._changed = asyncio.Event()

    def send(self, message: Message) -> None:
        self.sent.append(message)
        self._changed.set()

    async def drain(self) -> None:
        return None

    def replies(self) -> dict[int, Reply]:
        return {message.id: message for message in self.sent if isinstance(message, Reply)}

    async def reply(self, request_id: int) -> Reply:
        """Wait for the answer to a request (the timeout only guards against a hang)."""

        async def arrived() -> Reply:
            while request_id not in self.replies():
                self._changed.clear()
                await self._changed.wait()
            return self.replies()[request_id]

        return await asyncio.wait_for(arrived(), 30)


def names(folder: Path) -> list[str]:
    """Sorted names in ``folder`` (sync: the async tests must not block on pathlib directly)."""
    return sorted(path.name for path in folder.iterdir())


def write(path: Path, content: str, age_order: int = 0) -> None:
    path.write_text(content)
    stamp = OLD_S + age_order
    os.utime(path, (stamp, stamp))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    created = tmp_path / "input"
    created.mkdir()
    return created


@pytest.fixture
async def runner(tmp_path: Path, folder: Path) -> AsyncIterator[SouthRunner]:
    dto = {
        "id": "s1",
        "name": "Scanner",
        "type": "folder-scanner",
        "settings": {"inputFolder": str(folder), "compression": False},
        "items": [],
    }
    started = SouthRunner(RecordingChannel(), Start(role="south", connector=dto, data_dir=str(tmp_path / "data")))
    yield started
    await started.stop()


def channel_of(runner: SouthRunner) -> RecordingChannel:
    assert isinstance(runner.channel, RecordingChannel)
    return runner.channel


class GatedScanner(FolderScannerSouth):
    """A folder scanner whose connection test waits for ``gate``."""

    gate: asyncio.Event

    async def test_connection(self) -> None:
        await self.gate.wait()


async def test_a_slow_request_delays_neither_pings_nor_other_requests(runner: SouthRunner) -> None:
    GatedScanner.gate = asyncio.Event()
    runner.connector_cls = GatedScanner
    channel = channel_of(runner)

    await runner.handle(Request(id=1, method="test_connection"))
    await runner.handle(Request(id=2, method="ping"))

    assert (await channel.reply(2)).result == "pong"
    assert 1 not in channel.replies()
    GatedScanner.gate.set()
    assert (await channel.reply(1)).ok


async def test_stop_cancels_the_requests_in_progress(runner: SouthRunner) -> None:
    GatedScanner.gate = asyncio.Event()
    runner.connector_cls = GatedScanner
    await runner.handle(Request(id=1, method="test_connection"))
    await asyncio.sleep(0)

    await runner.stop()

    assert 1 not in channel_of(runner).replies()


async def test_connection_test_answers_the_connectors_reason(runner: SouthRunner, tmp_path: Path) -> None:
    channel = channel_of(runner)
    await runner.handle(Request(id=1, method="test_connection"))
    assert (await channel.reply(1)).ok

    gone = tmp_path / "gone"
    await runner.handle(Request(id=2, method="test_connection", params={"settings": {"inputFolder": str(gone)}}))
    assert await channel.reply(2) == Reply(id=2, ok=False, error=f"input folder {gone} does not exist")
    # The test used its own instance: the runner's connector was neither built nor replaced.
    assert runner.connector is None


async def test_item_test_reads_the_stored_state_and_writes_none(runner: SouthRunner, folder: Path) -> None:
    write(folder / "sent.csv", "1", age_order=1)
    write(folder / "new.csv", "2", age_order=2)
    cache = SouthCacheDB(Path(runner.data_dir) / "cache" / "cache.db")
    sent = [{"filename": "sent.csv", "modifiedTime": int((OLD_S + 1) * 1000) + 500}]
    cache.for_south("s1").set_value("i1", sent)
    item = {"id": "i1", "name": "csv", "settings": {"regex": r"\.csv$", "minAge": 0, "preserveFiles": True}}

    result = await runner.on_request("test_item", {"item": item})

    assert result["type"] == "time-values"
    assert [(value["pointId"], value["data"]["value"]) for value in result["content"]] == [("csv", "new.csv")]
    assert cache.for_south("s1").get_value("i1") == sent
    assert names(folder) == ["new.csv", "sent.csv"]
    cache.close()

    # A new item (no id) has no state: every matching file would be taken.
    result = await runner.on_request("test_item", {"item": {"name": "csv", "settings": item["settings"]}})
    assert sorted(value["data"]["value"] for value in result["content"]) == ["new.csv", "sent.csv"]


async def test_capturing_sink_answers_upstreams_content_shapes(tmp_path: Path) -> None:
    sink = CapturingSink()
    assert sink.result() == {"type": "time-values", "content": []}
    (tmp_path / "a.csv").write_text("ref;value\nT1;21.5\n")
    await sink.add_file(tmp_path / "a.csv", filename="dir/a.csv")
    (tmp_path / "a.csv").unlink()  # the connector may delete a scratch file once it was handed over
    await sink.add_file(tmp_path / "b.csv")
    assert sink.result() == {
        "type": "any",
        "filePath": str(tmp_path / "a.csv"),
        "filename": "dir/a.csv",
        "content": "ref;value\nT1;21.5\n",
        "truncated": False,
        "totalSize": 18,
    }
    big = CapturingSink()
    (tmp_path / "big.txt").write_bytes(b"x" * (600 * 1024))
    await big.add_file(tmp_path / "big.txt")
    shown = big.result()
    assert (len(shown["content"]), shown["truncated"], shown["totalSize"]) == (500 * 1024, True, 600 * 1024)
    contents = CapturingSink()
    await contents.add_content('{"a":1}')
    assert contents.result() == {"type": "any-content", "content": '{"a":1}'}

    values = CapturingSink()
    value: TimeValue = {"pointId": "p", "timestamp": "2024-01-01T00:00:00.000Z", "data": {"value": 1}}
    await values.add_values([value] * (MAX_TEST_VALUES - 1))
    await values.add_values([value] * 3)
    await values.add_file(tmp_path / "ignored")
    assert len(values.result()["content"]) == MAX_TEST_VALUES and values.dropped == 2


def test_scratch_cache_reads_through_and_keeps_writes_to_itself(tmp_path: Path) -> None:
    with SouthCacheDB(tmp_path / "cache.db") as db:
        stored = db.for_south("s1")
        instant = datetime(2024, 1, 1, tzinfo=UTC)
        stored.set_value("i1", ["kept"])
        stored.set_tracked_instant("i1", instant)
        scratch = ScratchCache(stored)
        assert scratch.get_value("i1") == ["kept"] and scratch.get_tracked_instant("i1") == instant

        later = datetime(2025, 1, 1, tzinfo=UTC)
        scratch.set_value("i1", ["changed"])
        scratch.set_tracked_instant("i1", later)
        scratch.set_value(None, 1, group_id="g1")

        assert scratch.get_value("i1") == ["changed"] and scratch.get_tracked_instant("i1") == later
        assert scratch.get_value(None, group_id="g1") == 1
        assert stored.get_value("i1") == ["kept"] and stored.get_tracked_instant("i1") == instant
        assert stored.get_value(None, group_id="g1") is None


# --- The default SouthConnector.test_item --------------------------------------------------------------


class PointSettings(msgspec.Struct, frozen=True):
    pass


class PointItem(msgspec.Struct, frozen=True):
    address: str


class Probe(SouthConnector[PointSettings, PointItem]):
    """A connector that records what the default ``test_item`` calls."""

    manifest = ConnectorManifest(
        id="probe",
        kind="south",
        name="Probe",
        category="debug",
        description="records calls",
        settings=PointSettings,
        item_settings=PointItem,
        modes=Modes(last_point=True, history=True),
    )

    def __init__(self, sink: RecordingSink, modes: Modes) -> None:
        context = ConnectorContext(
            id="p", name="Probe", logger=RecordingLogger(), base_folder=Path("."), data_folder=Path(".")
        )
        super().__init__(PointSettings(), context, sink, ScratchCache(_NoCache()))
        self.manifest = replace(Probe.manifest, modes=modes)
        self.calls: list[str] = []

    async def start(self) -> None:
        self.calls.append("start")

    async def stop(self) -> None:
        self.calls.append("stop")

    async def last_point(self, items: list[Item[PointItem]]) -> None:
        self.calls.append("last_point")
        await self.sink.add_values(
            [{"pointId": item.name, "timestamp": "2024-01-01T00:00:00.000Z", "data": {"value": 1}} for item in items]
        )

    async def history_query(self, items: list[Item[PointItem]], start: datetime, end: datetime) -> datetime | None:
        self.calls.append(f"history {start:%Y} {end:%Y}")
        return end


class _NoCache:
    def get_tracked_instant(self, item_id: str | None, group_id: str | None = None) -> datetime | None:
        return None

    def set_tracked_instant(self, item_id: str | None, instant: datetime, group_id: str | None = None) -> None:
        raise AssertionError("a test must not write the cache")

    def get_value(self, item_id: str | None, group_id: str | None = None) -> Any:
        return None

    def set_value(self, item_id: str | None, value: Any, group_id: str | None = None) -> None:
        raise AssertionError("a test must not write the cache")


ITEM = Item(id="i", name="point", enabled=True, settings=PointItem(address="x"))
START, END = datetime(2023, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC)


async def test_default_item_test_connects_reads_once_and_disconnects() -> None:
    sink = RecordingSink()
    probe = Probe(sink, Modes(last_point=True, history=True))
    await probe.test_item(ITEM, START, END)
    assert probe.calls == ["start", "last_point", "stop"]
    assert [value["pointId"] for value in sink.values] == ["point"]

    history = Probe(RecordingSink(), Modes(history=True))
    await history.test_item(ITEM, START, END)
    assert history.calls == ["start", "history 2023 2024", "stop"]


@pytest.mark.parametrize("modes", [Modes(last_file=True), Modes(subscription=True)])
async def test_default_item_test_refuses_modes_that_consume_or_wait(modes: Modes) -> None:
    probe = Probe(RecordingSink(), modes)
    with pytest.raises(ConnectorError, match="cannot test an item"):
        await probe.test_item(ITEM, START, END)
    assert probe.calls == []


async def test_a_stopping_worker_refuses_new_requests(runner: SouthRunner) -> None:
    await runner.stop()
    await runner.handle(Request(id=7, method="ping"))
    assert channel_of(runner).replies()[7] == Reply(id=7, ok=False, error="worker stopping")
