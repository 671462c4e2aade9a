"""End to end: time-values posted to a real engine reach an OPC UA server through the OPC UA North's rule."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from engine_process import EngineProcess, api_rule, north_body, scan_mode_id, until
from servers.opcua import OpcuaTestServer


async def test_time_values_posted_to_the_engine_are_written_to_the_opcua_server(tmp_path: Path) -> None:
    async with OpcuaTestServer() as server:
        engine = EngineProcess(tmp_path / "data")
        # The engine's API is called from threads: the OPC UA server answers on this test's event loop.
        await asyncio.to_thread(engine.start)
        try:
            every_second = await asyncio.to_thread(scan_mode_id, engine, "Every second")
            rule = api_rule(
                "plant",
                "time-values-to-opcua",
                [
                    {"pointId": "setpoint", "nodeId": "ns=2;s=Double"},
                    {"pointId": "mode", "nodeId": "ns=2;s=Int16"},
                ],
            )
            body = north_body("plc", "opcua", {"url": server.url}, every_second, transformers=[rule])
            north = await asyncio.to_thread(engine.ok, "POST", "/api/north", body)
            await asyncio.to_thread(engine.wait_state, "north", north["id"], "RUNNING")
            now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            values = [
                {"pointId": "setpoint", "timestamp": now, "data": {"value": "42.5"}},
                {"pointId": "mode", "timestamp": now, "data": {"value": "3"}},
                {"pointId": "not mapped", "timestamp": now, "data": {"value": "7"}},
            ]
            await asyncio.to_thread(
                engine.ok, "POST", "/api/content/content?dataSourceId=plant", {"type": "time-values", "content": values}
            )

            async def written() -> bool:
                return bool(await server.read("ns=2;s=Double") == 42.5 and await server.read("ns=2;s=Int16") == 3)

            await until(written)
        finally:
            code = await asyncio.to_thread(engine.stop)
        assert code == 0, engine.log()[-3000:]
    assert "values not written" not in engine.log()
