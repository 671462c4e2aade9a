"""The connector's own state, not its process's: a worker that runs but cannot reach its peer says so.

A Modbus South and a Modbus North start while their server is down: ``GET /api/{south,north}/{id}`` shows
the process RUNNING and the connector ``retrying`` with the last error and the next attempt; once the
server is back both show ``connected``. The SSE stream and ``/metrics`` carry the same state.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from functools import partial
from pathlib import Path
from typing import Any

from engine_process import AUTH, EngineProcess, modbus_south_body, north_body, scan_mode_id, until
from servers.modbus import modbus_server


def _connector(engine: EngineProcess, kind: str, connector_id: str) -> dict[str, Any]:
    found = engine.ok("GET", f"/api/{kind}/{connector_id}")["state"]
    return dict(found.get("connector") or {}) | {"process": found["state"]}


def _metrics_text(engine: EngineProcess) -> str:
    request = urllib.request.Request(f"{engine.url}/metrics", headers={"Authorization": AUTH})
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(response.read().decode())


def _sse_state(engine: EngineProcess, kind: str, connector_id: str) -> dict[str, Any]:
    request = urllib.request.Request(f"{engine.url}/sse/{kind}/{connector_id}", headers={"Authorization": AUTH})
    with urllib.request.urlopen(request, timeout=30) as response:
        for raw in response:
            line = raw.decode().strip()
            if line.startswith("data:"):
                return dict(json.loads(line[5:])["state"])
    raise AssertionError("no SSE frame")


async def test_a_south_and_a_north_at_a_closed_port_show_retrying_then_connected(tmp_path: Path) -> None:
    async with modbus_server() as server:
        await server.stop()  # Nobody listens on its port until the test starts it again.
        engine = EngineProcess(tmp_path / "data")
        await asyncio.to_thread(engine.start)
        try:
            every_second = await asyncio.to_thread(scan_mode_id, engine, "Every second")
            settings = {"host": "127.0.0.1", "port": server.port}
            north = await asyncio.to_thread(
                engine.ok, "POST", "/api/north", north_body("plc out", "modbus", settings, every_second)
            )
            south = await asyncio.to_thread(
                engine.ok, "POST", "/api/south", modbus_south_body("plc in", server.port, every_second)
            )
            targets = [("south", south["id"]), ("north", north["id"])]

            async def in_state(kind: str, connector_id: str, state: str) -> bool:
                found = await asyncio.to_thread(_connector, engine, kind, connector_id)
                return found.get("state") == state

            for kind, connector_id in targets:
                await until(partial(in_state, kind, connector_id, "retrying"), 60)
                found = await asyncio.to_thread(_connector, engine, kind, connector_id)
                assert found["process"] == "RUNNING"
                assert found["lastError"], found
                assert found["nextAttempt"] and found["since"], found
            text = await asyncio.to_thread(_metrics_text, engine)
            assert f'oibus_south_connector_state{{id="{south["id"]}",state="retrying"}} 1' in text
            sse = await asyncio.to_thread(_sse_state, engine, "south", south["id"])
            assert sse["connector"]["state"] == "retrying"

            await server.start()
            for kind, connector_id in targets:
                await until(partial(in_state, kind, connector_id, "connected"), 60)
                found = await asyncio.to_thread(_connector, engine, kind, connector_id)
                assert (found["process"], found["lastError"], found["nextAttempt"]) == ("RUNNING", None, None)
            listed = await asyncio.to_thread(engine.ok, "GET", "/api/south")
            (entry,) = [item for item in listed if item["id"] == south["id"]]
            assert entry["state"]["connector"]["state"] == "connected"
            # The console sink writes asynchronously: wait for both recovery lines before counting.
            await until(lambda: _async_true(engine.log().count("connector started after retries") >= 2), 30)
            log = engine.log()
            # One warning when each connector first fails, one line when it recovers (not one per attempt).
            assert log.count("connector not ready, retrying") == 2, log[-3000:]
            assert log.count("connector started after retries") == 2, log[-3000:]
        finally:
            code = await asyncio.to_thread(engine.stop)
        assert code == 0, engine.log()[-3000:]


async def _async_true(value: bool) -> bool:
    return value
