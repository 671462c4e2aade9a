"""The S7 South in its real runner: the PLC stops and comes back on the same port, reading resumes."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path
from typing import Any

from servers.s7 import s7_server
from south_runner import AckingChannel, ticking, until

from engine.ipc import Start
from engine.worker.south import SouthRunner


async def test_the_plc_restarting_is_one_logged_gap_and_reading_resumes(tmp_path: Path) -> None:
    async with s7_server() as server:
        server.write("DB", 1, 0, struct.pack(">h", 1))
        dto: dict[str, Any] = {
            "id": "s1",
            "name": "plc",
            "type": "s7",
            "settings": {"host": "127.0.0.1", "port": server.port, "requestTimeout": 2000},
            "items": [
                {
                    "id": "i1",
                    "name": "level",
                    "enabled": True,
                    "scanModeId": "fast",
                    "settings": {"address": "DB1,INT0"},
                }
            ],
        }
        channel = AckingChannel()
        runner = SouthRunner(channel, Start(role="south", connector=dto, data_dir=str(tmp_path / "data")))
        channel.runner = runner
        await runner.start_with_backoff()
        try:
            async with ticking(runner, "fast"):
                await until(lambda: channel.values().count("1") >= 3)
                await asyncio.to_thread(server.stop)
                await until(lambda: "connection lost, reconnecting" in channel.events())
                server.write("DB", 1, 0, struct.pack(">h", 2))
                await asyncio.to_thread(server.start)
                await until(lambda: channel.values().count("2") >= 3, within_s=60)
        finally:
            await runner.stop()
    events = channel.events()
    assert events.count("connection lost, reconnecting") == 1
    assert events.count("connector started after retries") == 1
    assert "item not read" not in events
    assert "run failed" not in events
    (lost,) = channel.logs("connection lost, reconnecting")
    assert f"127.0.0.1:{server.port}" in str(lost.get("reason"))
