"""The Modbus South in its real runner: the server stops and comes back mid-flow, the gap is logged once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from servers.modbus import ModbusTestServer, modbus_server
from south_runner import AckingChannel, ticking, until

from engine.ipc import Log, Start
from engine.worker.south import SouthRunner


async def test_the_server_restarting_mid_flow_is_one_logged_gap_and_a_recovery(tmp_path: Path) -> None:
    async with modbus_server() as server:
        await run_through_a_restart(server, tmp_path)


async def run_through_a_restart(server: ModbusTestServer, tmp_path: Path) -> None:
    await server.set("holding-register", 0, [1])
    dto: dict[str, Any] = {
        "id": "s1",
        "name": "plc",
        "type": "modbus",
        "settings": {"host": "127.0.0.1", "port": server.port, "networkTimeout": 2000},
        "items": [{"id": "i1", "name": "level", "enabled": True, "scanModeId": "fast", "settings": {"address": "0"}}],
    }
    channel = AckingChannel()
    runner = SouthRunner(channel, Start(role="south", connector=dto, data_dir=str(tmp_path / "data")))
    channel.runner = runner
    await runner.start_with_backoff()
    try:
        async with ticking(runner, "fast"):
            await until(lambda: channel.values().count("1") >= 3)
            await server.stop()
            await until(lambda: "connection lost, reconnecting" in channel.events())
            # Ticks keep coming while the server is away; they must neither log nor pile up.
            await asyncio.sleep(0.3)
            await server.start()
            await server.set("holding-register", 0, [2])
            await until(lambda: channel.values().count("2") >= 3)
    finally:
        await runner.stop()
    events = channel.events()
    assert events.count("connection lost, reconnecting") == 1
    assert events.count("connector started after retries") == 1
    assert "connector not ready, retrying" not in events
    assert "run failed" not in events
    assert "item not read" not in events
    lost = next(
        message for message in channel.sent if isinstance(message, Log) and message.event.startswith("connection lost")
    )
    assert f"127.0.0.1:{server.port}" in str(lost.fields.get("reason"))
