"""End to end: a real engine's Sparkplug North; its worker killed with SIGKILL, the broker publishes the will."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import psutil
from engine_process import EngineProcess, api_rule, north_body, post_values, scan_mode_id
from servers.mosquitto import machine_broker_url
from test_sparkplug_north_functional import SparkplugHost, check_sequence


def bd_seq(payload: Any) -> int:
    return int(next(m.long_value for m in payload.metrics if m.name == "bdSeq"))


async def test_the_death_certificate_is_published_when_the_worker_is_killed(tmp_path: Path) -> None:
    host = await SparkplugHost(f"engine-{tmp_path.name[-12:]}").start()
    engine = EngineProcess(tmp_path / "data")
    await asyncio.to_thread(engine.start)
    try:
        every_second = await asyncio.to_thread(scan_mode_id, engine, "Every second")
        settings = {"url": machine_broker_url(), "groupId": host.group, "edgeNodeId": "edge1", "deviceId": "dev1"}
        body = north_body("sp", "sparkplug", settings, every_second, transformers=[api_rule("src")])
        north = await asyncio.to_thread(engine.ok, "POST", "/api/north", body)
        state = await asyncio.to_thread(engine.wait_state, "north", north["id"], "RUNNING")
        values = {
            "type": "time-values",
            "content": [{"pointId": "temp", "timestamp": "2026-01-01T00:00:00.000Z", "data": {"value": 20.5}}],
        }
        assert await asyncio.to_thread(post_values, engine, values) == 204
        await host.wait(lambda: len(host.values()) == 1)
        first_birth = host.of("NBIRTH")[0]
        psutil.Process(state["state"]["pid"]).kill()
        await host.wait(lambda: len(host.of("NDEATH")) == 1)
        assert bd_seq(host.of("NDEATH")[0]) == bd_seq(first_birth)
        await host.wait(lambda: len(host.of("NBIRTH")) >= 3)  # the new worker's birth
        assert bd_seq(host.of("NBIRTH")[-1]) == (bd_seq(first_birth) + 1) % 256
        await host.wait(lambda: len(host.values()) >= 1 and len(host.of("DBIRTH")) >= 3)
    finally:
        code = await asyncio.to_thread(engine.stop)
        await host.stop()
    assert code == 0, engine.log()[-3000:]
    check_sequence(host)
    assert next(name for name, _, _ in host.values()) == "temp"
