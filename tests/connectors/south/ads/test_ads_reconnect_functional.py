"""The ADS South in its real runner: the ADS test server stops and comes back on the same port, reading resumes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pyads import constants
from pyads.testserver import AdsTestServer, PLCVariable
from servers.ads import ads_server
from south_runner import AckingChannel, ticking, until

from engine.ipc import Start
from engine.worker.south import SouthRunner

pytestmark = pytest.mark.timeout(120)


async def test_the_plc_restarting_is_one_logged_gap_and_reading_resumes(tmp_path: Path) -> None:
    variable = PLCVariable("MAIN.level", 1, constants.ADST_INT16, "INT")
    with ads_server([variable]) as (server, port):
        dto: dict[str, Any] = {
            "id": "s1",
            "name": "plc",
            "type": "ads",
            "settings": {"netId": "127.0.0.1.1.1", "routerAddress": "127.0.0.1", "routerTcpPort": port},
            "items": [
                {
                    "id": "i1",
                    "name": "level",
                    "enabled": True,
                    "scanModeId": "fast",
                    "settings": {"address": "MAIN.level"},
                }
            ],
        }
        channel = AckingChannel()
        runner = SouthRunner(channel, Start(role="south", connector=dto, data_dir=str(tmp_path / "data")))
        channel.runner = runner
        await runner.start_with_backoff()
        again: AdsTestServer | None = None
        try:
            async with ticking(runner, "fast"):
                await until(lambda: channel.values().count("1") >= 3)
                server.stop()
                await asyncio.to_thread(server.join, 5)
                await until(lambda: "connection lost, reconnecting" in channel.events(), within_s=30)
                variable.value = (2).to_bytes(2, "little")
                again = AdsTestServer(handler=server.handler, ip_address="127.0.0.1", port=port, logging=False)
                again.start()
                await until(lambda: channel.values().count("2") >= 3, within_s=60)
        finally:
            await runner.stop()
            if again is not None:
                again.stop()
                again.join(5)
    events = channel.events()
    assert events.count("connection lost, reconnecting") == 1
    assert events.count("connector started after retries") == 1
    assert "item not read" not in events
