"""MetricsStore on a real SQLite file: accumulation across worker restarts, persistence, resets, engine samples."""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from engine.engine import Engine
from engine.ipc import Start
from engine.metrics import MetricsStore, ProcessSample, ProcessSampler
from engine.states import WorkerState
from engine.supervisor.worker import Worker

SOUTH = "south:s1"
NORTH = "north:n1"


class FakeSampler:
    """Hands out prepared samples (RSS values) one per call."""

    def __init__(self, rss: list[int]) -> None:
        self.rss = list(rss)
        self.calls = 0

    def sample(self) -> ProcessSample:
        value = self.rss[min(self.calls, len(self.rss) - 1)]
        self.calls += 1
        return ProcessSample(
            cpu_instant=0.5,
            cpu_average=0.25,
            uptime_ms=1000 * self.calls,
            free_memory=100,
            total_memory=1000,
            memory={"Rss": value, "HeapTotal": 2 * value, "HeapUsed": value, "External": value, "ArrayBuffers": 0},
        )


def clock() -> Callable[[], str]:
    """Distinct, increasing instants."""
    counter = itertools.count(1)
    return lambda: f"2026-01-01T00:00:{next(counter):02d}.000Z"


def open_store(path: Path, **options: Any) -> MetricsStore:
    options.setdefault("sampler", FakeSampler([10]))
    options.setdefault("clock", clock())
    return MetricsStore(path, **options)


def stored_rows(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """What is on disk now (read with a separate connection)."""
    with sqlite3.connect(path) as conn:
        return {(kind, row_id): json.loads(data) for kind, row_id, data in conn.execute("SELECT * FROM oibus_metrics")}


async def wait_until(predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Poll ``predicate``; the timeout only turns a hang into a failure."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "logs" / "metrics.db"


async def test_counters_accumulate_deltas_and_count_a_restarted_counter_whole(db: Path) -> None:
    async with open_store(db) as metrics:
        metrics.record(SOUTH, {"numberOfValuesRetrieved": 5, "numberOfFilesRetrieved": 1})
        metrics.record(SOUTH, {"numberOfValuesRetrieved": 8, "numberOfFilesRetrieved": 1})
        assert metrics.get("south", "s1")["numberOfValuesRetrieved"] == 8
        # The worker restarted without the engine saying so: its counter went down.
        metrics.record(SOUTH, {"numberOfValuesRetrieved": 3, "numberOfFilesRetrieved": 0})
        metrics.record(SOUTH, {"numberOfValuesRetrieved": 4, "numberOfFilesRetrieved": 2})
        row = metrics.get("south", "s1")
        assert (row["numberOfValuesRetrieved"], row["numberOfFilesRetrieved"]) == (12, 3)


async def test_a_new_worker_is_counted_whole_even_above_the_last_value(db: Path) -> None:
    async with open_store(db) as metrics:
        metrics.record(NORTH, {"contentSentSize": 100, "refusedCount": 1})
        metrics.worker_started(NORTH)
        # The new process already sent more than its predecessor by its first report.
        metrics.record(NORTH, {"contentSentSize": 150, "refusedCount": 0})
        row = metrics.get("north", "n1")
        assert (row["contentSentSize"], row["refusedCount"]) == (250, 1)


async def test_last_values_survive_a_fresh_worker_and_gauges_follow_the_latest_report(db: Path) -> None:
    async with open_store(db) as metrics:
        first = {"numberOfValuesRetrieved": 1, "lastValueRetrieved": {"pointId": "a"}, "lastRunDuration": 7}
        metrics.record(SOUTH, first)
        metrics.worker_started(SOUTH)
        metrics.record(SOUTH, {"numberOfValuesRetrieved": 0, "lastValueRetrieved": None, "lastRunDuration": None})
        row = metrics.get("south", "s1")
        assert row["lastValueRetrieved"] == {"pointId": "a"} and row["lastRunDuration"] == 7
        metrics.record(NORTH, {"currentCacheSize": 40, "numberOfQueuedFiles": 3})
        metrics.record(NORTH, {"currentCacheSize": 10, "numberOfQueuedFiles": 0})
        north = metrics.get("north", "n1")
        assert (north["currentCacheSize"], north["numberOfQueuedFiles"]) == (10, 0)
        # The worker's own start is not the row's: metricsStart is the last reset.
        metrics.record(SOUTH, {"metricsStart": "1999-01-01T00:00:00.000Z"})
        assert metrics.get("south", "s1")["metricsStart"] != "1999-01-01T00:00:00.000Z"


async def test_rows_survive_an_engine_restart_and_keep_accumulating(db: Path) -> None:
    async with open_store(db) as metrics:
        metrics.record(SOUTH, {"numberOfValuesRetrieved": 40, "lastFileRetrieved": "a.csv"})
        metrics.record(NORTH, {"contentSentSize": 1000, "lastContentSent": "a.csv"})
        start = metrics.get("south", "s1")["metricsStart"]
        await metrics.tick()
        engine_before = metrics.engine()
    # A new engine: its workers are new processes counting from zero again.
    async with open_store(db, sampler=FakeSampler([5])) as metrics:
        south = metrics.get("south", "s1")
        assert (south["numberOfValuesRetrieved"], south["lastFileRetrieved"]) == (40, "a.csv")
        assert south["metricsStart"] == start
        metrics.record(SOUTH, {"numberOfValuesRetrieved": 2})
        metrics.record(NORTH, {"contentSentSize": 30})
        assert metrics.get("south", "s1")["numberOfValuesRetrieved"] == 42
        assert metrics.get("north", "n1")["contentSentSize"] == 1030
        assert metrics.engine()["maxRss"] == engine_before["maxRss"] == 10
        await metrics.tick()
        assert (metrics.engine()["minRss"], metrics.engine()["maxRss"]) == (5, 10)
    rows = stored_rows(db)
    assert rows[("south", "s1")]["numberOfValuesRetrieved"] == 42
    assert rows[("engine", "engine")]["currentRss"] == 5


async def test_reset_counts_again_from_now_and_keeps_live_gauges(db: Path) -> None:
    async with open_store(db) as metrics:
        metrics.record(NORTH, {"contentSentSize": 500, "currentCacheSize": 64, "lastContentSent": "x"})
        before = metrics.get("north", "n1")["metricsStart"]
        metrics.reset("north", "n1")
        row = metrics.get("north", "n1")
        assert row["metricsStart"] > before
        assert (row["contentSentSize"], row["lastContentSent"], row["currentCacheSize"]) == (0, None, 64)
        # Deltas go on from the worker's last value, not from zero.
        metrics.record(NORTH, {"contentSentSize": 520})
        assert metrics.get("north", "n1")["contentSentSize"] == 20
        await metrics.flush()
        assert stored_rows(db)[("north", "n1")]["contentSentSize"] == 20


async def test_engine_reset_restarts_minima_and_maxima(db: Path) -> None:
    async with open_store(db, sampler=FakeSampler([30, 10, 20])) as metrics:
        for _ in range(3):
            await metrics.tick()
        row = metrics.engine()
        assert (row["minRss"], row["currentRss"], row["maxRss"], row["maxHeapTotal"]) == (10, 20, 30, 60)
        assert (row["processCpuUsageInstant"], row["totalMemory"], row["currentArrayBuffers"]) == (0.5, 1000, 0)
        started = row["metricsStart"]
        metrics.reset_engine()
        row = metrics.engine()
        assert (row["minRss"], row["maxRss"]) == (20, 20) and row["metricsStart"] > started


async def test_the_loop_flushes_in_the_background_until_stopped(db: Path) -> None:
    sampler = FakeSampler([10])
    async with open_store(db, sampler=sampler, interval_s=0.01) as metrics:
        async with asyncio.TaskGroup() as group:
            metrics.start(group)
            metrics.record(SOUTH, {"numberOfValuesRetrieved": 3})
            await wait_until(lambda: stored_rows(db).get(("south", "s1"), {}).get("numberOfValuesRetrieved") == 3)
            metrics.stop()
        assert sampler.calls >= 1
        # Changes after the loop ended are written by the final flush.
        metrics.record(SOUTH, {"numberOfValuesRetrieved": 4})
    assert stored_rows(db)[("south", "s1")]["numberOfValuesRetrieved"] == 4


async def test_prune_forgets_deleted_connectors(db: Path) -> None:
    async with open_store(db) as metrics:
        metrics.record(SOUTH, {"numberOfValuesRetrieved": 1})
        metrics.record("south:gone", {"numberOfValuesRetrieved": 1})
        await metrics.flush()
        metrics.prune("south", ["s1"])
    assert set(stored_rows(db)) == {("south", "s1")}


async def test_a_damaged_file_is_set_aside(db: Path) -> None:
    db.parent.mkdir(parents=True)
    db.write_bytes(b"not a database at all" * 100)  # noqa: ASYNC240 - test setup
    async with open_store(db) as metrics:
        metrics.record(SOUTH, {"numberOfValuesRetrieved": 1})
    assert stored_rows(db)[("south", "s1")]["numberOfValuesRetrieved"] == 1
    assert [path.name.startswith("metrics.db.corrupt-") for path in db.parent.iterdir()].count(True) == 1


def test_the_process_sampler_reads_this_process() -> None:
    sampler = ProcessSampler()
    sample = sampler.sample()
    rss = psutil.Process().memory_info().rss
    memory = sample.memory
    assert memory["Rss"] > 0 and memory["HeapTotal"] >= memory["Rss"] and memory["ArrayBuffers"] == 0
    assert memory["HeapTotal"] == memory["Rss"] + memory["External"]
    assert 0 < memory["Rss"] <= 4 * rss
    assert sample.total_memory >= sample.free_memory > 0 and sample.uptime_ms > 0
    assert sample.cpu_instant >= 0 and sample.cpu_average >= 0


def test_the_engine_announces_each_new_worker_process(tmp_path: Path) -> None:
    engine = Engine(tmp_path, config=None)  # type: ignore[arg-type]  # on_state reads no configuration
    started: list[str] = []
    engine.worker_start_listeners.append(started.append)

    def start_message() -> Start:
        raise AssertionError("not spawned")

    worker = Worker("south:s1", "south", start_message, engine)
    for state in (WorkerState.STARTING, WorkerState.RUNNING, WorkerState.EXITED, WorkerState.STARTING):
        engine.on_state(worker, state)
    assert started == ["south:s1", "south:s1"]
