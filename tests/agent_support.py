"""Helpers of the tests of the Souths that read through the OIBus Agent (``opc``, ``osisoft-pi``).

Import as ``from agent_support import ...`` (``tests`` is on pytest's ``pythonpath``). The engine scenario
(``catch_up_across_an_agent_restart``) is shared by both connectors' real-process tests.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from engine_process import EngineProcess, north_body, scan_mode_id, until
from fakes import RecordingLogger, RecordingSink
from history_support import history_body
from servers.oibus_agent import FakeAgent

from connectors.base import ConnectorContext, Item, SouthConnector
from engine.cache.south import SouthCacheDB
from engine.history.windowing import history_intervals, run_history

C = TypeVar("C", bound=SouthConnector[Any, Any])


def build(cls: type[C], settings: dict[str, Any], tmp_path: Path) -> tuple[C, RecordingSink, SouthCacheDB]:
    """A connector of ``cls`` with ``settings`` (wire names), a recording sink and a real South cache."""
    sink = RecordingSink()
    db = SouthCacheDB(tmp_path / "cache.db")
    context = ConnectorContext(
        id="agent-south", name="agent south", logger=RecordingLogger(), base_folder=tmp_path, data_folder=tmp_path
    )
    validated = msgspec.convert(settings, cls.manifest.settings)
    return cls(validated, context, sink, db.for_south("agent-south")), sink, db


def item(connector: SouthConnector[Any, Any], item_id: str, name: str, settings: dict[str, Any]) -> Item[Any]:
    """An item of the connector's type."""
    struct = connector.manifest.item_settings
    assert struct is not None
    return Item(id=item_id, name=name, enabled=True, settings=msgspec.convert(settings, struct))


async def read_windows(
    connector: SouthConnector[Any, Any], the_item: Item[Any], start: datetime, end: datetime, window_s: int
) -> datetime | None:
    """Read ``[start, end]`` of one item from its tracked instant, in ``window_s`` windows, as the engine does."""
    tracked = connector.cache.get_tracked_instant(the_item.id)
    return await run_history(
        lambda s, e: connector.history_query([the_item], s, e),
        history_intervals(start, end, tracked_instant=tracked, max_read_interval_s=window_s),
        0,
        lambda instant: connector.cache.set_tracked_instant(the_item.id, instant),
        "oldest",
        tracked_instant=tracked,
    )


def delivered(sink: RecordingSink, point: str) -> set[int]:
    """Grid indexes of the values of ``point`` the sink received."""
    return {int(v["data"]["value"]) for v in sink.values if v["pointId"] == point}


def written(folder: Path) -> dict[str, set[int]]:
    """Grid indexes per point in the JSON files a file-writer North wrote."""
    found: dict[str, set[int]] = {}
    for path in folder.glob("*.json"):
        try:
            for value in json.loads(path.read_bytes()):
                found.setdefault(value["pointId"], set()).add(int(value["data"]["value"]))
        except (OSError, ValueError):
            continue  # Being renamed into place; read at the next poll.
    return found


def _connector_state(engine: EngineProcess, south_id: str) -> dict[str, Any]:
    return dict(engine.ok("GET", f"/api/south/{south_id}")["state"].get("connector") or {})


async def catch_up_across_an_agent_restart(
    tmp_path: Path,
    south: Callable[[FakeAgent], dict[str, Any]],
    points: list[str],
    *,
    hours: float = 2.0,
) -> None:
    """A South of the agent family catching up ``hours`` into a file-writer North while the agent restarts.

    The item's tracked instant is set ``hours`` back before the South starts, so it reads many
    ``maxReadInterval`` windows. Once part of them is written the agent stops: the connector's state must
    turn ``retrying`` with an error naming the agent; the agent starts again on the same port (sessions
    forgotten) and, without any restart of OIBus, every value of ``points`` from the tracked instant on
    must reach the files (duplicates allowed).
    """
    output = tmp_path / "out"
    output.mkdir()
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=hours)
    async with FakeAgent(step_ms=1000) as agent:
        engine = EngineProcess(tmp_path / "data")
        await asyncio.to_thread(engine.start)
        try:
            every_second = await asyncio.to_thread(scan_mode_id, engine, "Every second")
            writer = north_body("writer", "file-writer", {"outputFolder": str(output)}, every_second)
            north = await asyncio.to_thread(engine.ok, "POST", "/api/north", writer)
            await asyncio.to_thread(engine.wait_state, "north", north["id"], "RUNNING")
            body = south(agent)
            for entry in body["items"]:
                entry.update(scanModeId=every_second, maxReadInterval=120, readDelay=0)
            created = await asyncio.to_thread(engine.ok, "POST", "/api/south", body | {"enabled": False})
            south_id = str(created["id"])
            found = await asyncio.to_thread(engine.ok, "GET", f"/api/south/{south_id}")
            with SouthCacheDB(engine.data_dir / "cache" / "cache.db") as cache_db:
                for entry in found["items"]:
                    cache_db.for_south(south_id).set_tracked_instant(entry["id"], base)
            # Reads past the 20th wait: the agent is stopped while one is in progress.
            agent.hold, agent.hold_after = asyncio.Event(), 20
            await asyncio.to_thread(engine.ok, "POST", f"/api/south/{south_id}/start")
            await until(lambda: _async(len(agent.reads()) > agent.hold_after), 120)
            await agent.stop()
            agent.hold = None
            partial_output = written(output)
            assert all(len(partial_output.get(p, ())) < 3600 * hours for p in points), "mid-read"

            async def retrying() -> bool:
                state = await asyncio.to_thread(_connector_state, engine, south_id)
                return state.get("state") == "retrying" and agent.url in str(state.get("lastError"))

            await until(retrying, 60)
            state = await asyncio.to_thread(_connector_state, engine, south_id)
            assert state["nextAttempt"], state
            await agent.start()
            connects = [call for call in agent.calls if call.action == "connect" and call.connector_id == south_id]
            expected = set(agent.indexes(base.isoformat(), datetime.now(UTC).isoformat()))

            def all_written() -> bool:
                now = written(output)
                return all(expected <= now.get(point, set()) for point in points)

            await until(lambda: asyncio.to_thread(all_written), 180)
            await until(partial(_connected, engine, south_id), 30)
            reconnects = [call for call in agent.calls if call.action == "connect" and call.connector_id == south_id]
            assert len(reconnects) > len(connects), "the South opened its agent session again"
            log = await asyncio.to_thread(engine.log)
            assert log.count("connection lost, reconnecting") == 1, log[-3000:]
            await _connection_and_item_tests(engine, south_id, body["items"][0]["settings"], base)
        finally:
            code = await asyncio.to_thread(engine.stop)
        assert code == 0, engine.log()[-3000:]


async def _connection_and_item_tests(
    engine: EngineProcess, south_id: str, item_settings: dict[str, Any], base: datetime
) -> None:
    """``test/connection`` and ``items/test`` through the API, on the agent's ``<id>-test`` session."""
    status, _ = await asyncio.to_thread(engine.request, "POST", f"/api/south/{south_id}/test/connection")
    assert status == 204
    window = {"startTime": base.isoformat(), "endTime": (base + timedelta(seconds=10)).isoformat()}
    command = {"itemSettings": item_settings, "testingSettings": {"history": window}}
    path = f"/api/south/{south_id}/items/test?itemName=probe"
    answer = await asyncio.to_thread(engine.ok, "POST", path, command)
    assert answer["type"] == "time-values" and len(answer["content"]) == 11, answer
    assert {value["pointId"] for value in answer["content"]} == {"probe"}


async def _async(value: bool) -> bool:
    return value


async def _connected(engine: EngineProcess, south_id: str) -> bool:
    state = await asyncio.to_thread(_connector_state, engine, south_id)
    return state.get("state") == "connected"


def _history_status(engine: EngineProcess, history_id: str) -> str:
    return str(engine.ok("GET", f"/api/history-queries/{history_id}")["status"])


async def history_query_across_an_agent_restart(
    tmp_path: Path,
    south: tuple[str, Callable[[FakeAgent], dict[str, Any]]],
    items: list[dict[str, Any]],
    points: list[str],
) -> None:
    """A history query of six past hours in 10-minute windows through the agent, which restarts mid-read.

    The query's South reads with the same connector after the failure (a history query retries its read
    rather than restarting its worker), so the connector must open its agent session again by itself.
    Every value of ``points`` in the range must reach the query's files, and the query must finish.
    """
    output = tmp_path / "out"
    output.mkdir()
    start, end = "2026-01-01T00:00:00.000Z", "2026-01-01T06:00:00.000Z"
    south_type, south_settings = south
    async with FakeAgent(step_ms=1000) as agent:
        engine = EngineProcess(tmp_path / "data")
        await asyncio.to_thread(engine.start)
        try:
            body = history_body("backfill", (start, end, 600), (south_type, south_settings(agent)), output, items)
            history_id = str((await asyncio.to_thread(engine.ok, "POST", "/api/history-queries", body))["id"])
            agent.hold, agent.hold_after = asyncio.Event(), 10
            await asyncio.to_thread(engine.ok, "POST", f"/api/history-queries/{history_id}/start")
            await until(lambda: _async(len(agent.reads()) > agent.hold_after), 120)
            await agent.stop()
            agent.hold = None
            await agent.start()
            expected = set(agent.indexes(start, end))

            async def finished() -> bool:
                return await asyncio.to_thread(_history_status, engine, history_id) == "FINISHED"

            def all_written() -> bool:
                found = written(output)
                return all(expected <= found.get(point, set()) for point in points)

            for condition, what in (
                (lambda: asyncio.to_thread(all_written), "every value written"),
                (finished, "FINISHED"),
            ):
                try:
                    await until(condition, 120)
                except TimeoutError:
                    actions = [c.action for c in agent.calls]
                    counts = {action: actions.count(action) for action in set(actions)}
                    last = agent.reads()[-1].body if agent.reads() else None
                    log = await asyncio.to_thread(engine.log)
                    found = await asyncio.to_thread(written, output)
                    missing = {p: sorted(expected - found.get(p, set())) for p in points}
                    gaps = {p: (len(m), m[:1], m[-1:]) for p, m in missing.items()}
                    files = len(list(output.glob("*")))
                    raise AssertionError(
                        f"not {what}: missing {gaps} in {files} files; agent calls {counts}, last read {last}\n"
                        f"{log[-6000:]}"
                    ) from None
            connects = [call for call in agent.calls if call.action == "connect"]
            assert len(connects) >= 2, "the query's South opened its agent session again"
            log = await asyncio.to_thread(engine.log)
            assert "history read failed; retrying" in log, log[-3000:]
        finally:
            code = await asyncio.to_thread(engine.stop)
        assert code == 0, engine.log()[-3000:]
