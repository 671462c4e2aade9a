"""End to end: a worker's log line reaches a Loki push endpoint with its scope (acceptance 5, Loki half).

A real engine process whose logger pushes every second to an aiohttp server standing in for Loki (which
cannot run here); the line comes from a North worker process, relayed over IPC.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from engine_process import EngineProcess, north_body, scan_mode_id


async def test_worker_log_line_is_pushed_to_loki_with_its_scope(tmp_path: Path) -> None:
    pushed: list[Any] = []
    received = asyncio.Event()

    async def push(request: web.Request) -> web.Response:
        pushed.append(await request.json())
        received.set()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/loki/api/v1/push", push)
    async with TestServer(app, host="127.0.0.1") as server:
        engine = await asyncio.to_thread(EngineProcess(tmp_path / "data").start)
        try:
            loki = {"level": "info", "interval": 1, "address": f"http://127.0.0.1:{server.port}"}
            await asyncio.to_thread(engine.ok, "PUT", "/api/engine/logger", {"loki": loki})
            mode = await asyncio.to_thread(scan_mode_id, engine, "Every second")
            body = north_body("to-loki", "file-writer", {"outputFolder": str(tmp_path)}, mode)
            north = await asyncio.to_thread(engine.ok, "POST", "/api/north", body)

            def started_line() -> dict[str, str] | None:
                for batch in pushed:
                    for stream in batch["streams"]:
                        labels = stream["stream"]
                        if labels.get("scopeId") == north["id"] and any(
                            "connector started" in line for _, line in stream["values"]
                        ):
                            return dict(labels)
                return None

            async with asyncio.timeout(30):
                while started_line() is None:
                    received.clear()
                    await received.wait()
            assert started_line() == {
                "level": "info",
                "name": "OIBus",
                "scopeId": north["id"],
                "scopeName": "to-loki",
                "scopeType": "north",
            }
        finally:
            assert await asyncio.to_thread(engine.stop) == 0, engine.log()
