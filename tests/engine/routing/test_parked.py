"""A parked (stopped) North: the engine stores its content in the real cache folder, in its own task group."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import structlog
from structlog.testing import capture_logs

from engine.cache.north.store import NorthStore
from engine.ipc import Content
from engine.routing.delivery import Deliveries
from engine.routing.parked import ParkedCaches, ParkedNorth, ParkedNorths
from engine.runtime import IngestResult

NORTH = {"id": "n1", "name": "files", "type": "file-writer", "transformers": [], "caching": {"throttling": {}}}


def values(seq: int) -> Content:
    payload = json.dumps([{"pointId": "p", "timestamp": "2026-01-01T00:00:00.000Z", "data": {"value": seq}}])
    return Content(seq=seq, source_id="s1", content_type="time-values", payload=payload.encode(), count=1)


class BrokenCaches(ParkedCaches):
    """A cache whose store raises (what ``ParkedCaches`` itself never does, but a bug there might)."""

    async def store(self, north: ParkedNorth, content: Content) -> str | None:
        raise RuntimeError("disk on fire")


async def _park_and_send(parked: ParkedNorths, contents: list[Content]) -> list[IngestResult]:
    """Park NORTH, dispatch ``contents`` to it as routing would, and wait for every answer."""
    await parked.park("n1", NORTH, lambda _type: ("time-values", "any"))
    deliveries = Deliveries(parked.slots, store_timeout_s=30.0)
    results: list[IngestResult] = []
    for content in contents:
        deliveries.dispatch([(parked.slots["n1"], [content])], results.append)
    await parked.slots["n1"].worker.drain()
    return results


async def _cached(data_dir: Path) -> list[Any]:
    """What the North's worker will find in its cache folder."""
    store = NorthStore(data_dir, "north-n1", logger=structlog.get_logger(), io_threads=1)
    await store.open()
    try:
        return store.queued()
    finally:
        await store.close()


async def test_parked_content_is_stored_in_the_north_cache_and_answered(tmp_path: Path) -> None:
    locks: dict[str, asyncio.Lock] = {}
    parked = ParkedNorths(tmp_path, lambda north_id: locks.setdefault(north_id, asyncio.Lock()))
    async with asyncio.TaskGroup() as group:
        parked.start(group)
        results = await _park_and_send(parked, [values(1), values(2)])
        await parked.close()
    assert [result.stored for result in results] == [("n1",), ("n1",)]
    cached = await _cached(tmp_path)
    assert sum(entry.metadata.number_of_element for entry in cached) == 2, cached


async def test_a_failing_store_is_logged_under_the_north_and_refused_without_hurting_the_engine(
    tmp_path: Path,
) -> None:
    locks: dict[str, asyncio.Lock] = {}
    parked = ParkedNorths(tmp_path, lambda north_id: locks.setdefault(north_id, asyncio.Lock()))
    parked.caches = BrokenCaches(tmp_path, lambda north_id: locks.setdefault(north_id, asyncio.Lock()))
    survivor = asyncio.Event()
    with capture_logs() as logs:
        async with asyncio.TaskGroup() as group:
            parked.start(group)
            results = await _park_and_send(parked, [values(1)])
            # The engine's group is still alive: a task started after the failure runs.
            group.create_task(asyncio.sleep(0), name="test:after").add_done_callback(lambda _: survivor.set())
            await asyncio.wait_for(survivor.wait(), 5)
            await parked.close()
    (result,) = results
    assert result.stored == () and "disk on fire" in result.refused["n1"]
    (failure,) = [entry for entry in logs if entry["event"] == "stopped north cannot store content"]
    assert (failure["scopeType"], failure["scopeId"], failure["log_level"]) == ("north", "n1", "error")
    assert failure["error"] == "disk on fire"
