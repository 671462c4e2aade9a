"""OPC South in a real engine, into a file-writer North, while its OIBus Agent restarts in the middle of a catch-up.

See ``agent_support.catch_up_across_an_agent_restart``: every generated value of two hours of history
reaches the files; the agent's outage shows as ``retrying`` with an error naming it; no restart of OIBus.

The history-query tests end on the query's tail: its last windows often hold fewer values than the North's
``numberOfElements`` threshold, and a query's North has no scan mode to tick, so the engine must have the
North send its whole cache once the South read everything (else the tail stays cached and the query never
finishes: what made the restart test fail about one run in five, when its last window came alone).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from agent_support import catch_up_across_an_agent_restart, history_query_across_an_agent_restart, written
from engine_process import EngineProcess, until
from history_support import history_body
from servers.oibus_agent import FakeAgent


def opc_south(agent: FakeAgent) -> dict[str, Any]:
    return {
        "name": "historian",
        "type": "opc",
        "description": "",
        "settings": {"agentUrl": agent.url, "retryInterval": 500, "host": "plant-pc"},
        "items": [{"name": "flow", "enabled": True, "settings": {"nodeId": "Plant.Flow"}}],
        "groups": [],
    }


async def test_every_value_reaches_the_files_across_an_agent_restart_mid_read(tmp_path: Path) -> None:
    await catch_up_across_an_agent_restart(tmp_path, opc_south, ["flow"])


async def test_a_history_query_reads_every_window_across_an_agent_restart(tmp_path: Path) -> None:
    def settings(agent: FakeAgent) -> dict[str, Any]:
        return dict(opc_south(agent)["settings"])

    items = [{"name": "flow", "enabled": True, "settings": {"nodeId": "Plant.Flow"}}]
    await history_query_across_an_agent_restart(tmp_path, ("opc", settings), items, ["flow"])


async def test_a_history_query_below_the_norths_send_threshold_is_sent_and_finishes(tmp_path: Path) -> None:
    """Five minutes (301 values) in one window: under the default ``numberOfElements`` of 1000, no scan mode."""
    output = tmp_path / "out"
    output.mkdir()
    start, end = "2026-01-01T00:00:00.000Z", "2026-01-01T00:05:00.000Z"
    items = [{"name": "flow", "enabled": True, "settings": {"nodeId": "Plant.Flow"}}]
    async with FakeAgent(step_ms=1000) as agent:
        engine = EngineProcess(tmp_path / "data")
        await asyncio.to_thread(engine.start)
        try:
            body = history_body("short", (start, end, 600), ("opc", dict(opc_south(agent)["settings"])), output, items)
            assert body.get("caching") is None, "the query keeps the default caching (no scan mode)"
            created = await asyncio.to_thread(engine.ok, "POST", "/api/history-queries", body)
            history_id = str(created["id"])
            assert created["caching"]["trigger"]["scanModeId"] == "", created["caching"]
            assert created["caching"]["trigger"]["numberOfElements"] > 301, created["caching"]
            await asyncio.to_thread(engine.ok, "POST", f"/api/history-queries/{history_id}/start")
            expected = set(agent.indexes(start, end))
            assert len(expected) == 301

            async def finished() -> bool:
                query = await asyncio.to_thread(engine.ok, "GET", f"/api/history-queries/{history_id}")
                return bool(query["status"] == "FINISHED")

            await until(finished, 60)
            assert written(output).get("flow") == expected
            assert len(agent.reads()) == 1
        finally:
            code = await asyncio.to_thread(engine.stop)
        assert code == 0, engine.log()[-3000:]
