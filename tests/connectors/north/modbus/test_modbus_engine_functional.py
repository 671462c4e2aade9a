"""End to end: time-values posted to a real engine reach a Modbus server through the Modbus North's rule."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from engine_process import EngineProcess, api_rule, north_body, scan_mode_id, until
from servers.modbus import modbus_server


async def test_time_values_posted_to_the_engine_are_written_to_the_modbus_server(tmp_path: Path) -> None:
    async with modbus_server() as server:
        engine = EngineProcess(tmp_path / "data")
        # The engine's API is called from threads: the Modbus server answers on this test's event loop.
        await asyncio.to_thread(engine.start)
        try:
            every_second = await asyncio.to_thread(scan_mode_id, engine, "Every second")
            rule = api_rule(
                "plant",
                "time-values-to-modbus",
                [
                    {"pointId": "setpoint", "address": "40", "modbusType": "register"},
                    {"pointId": "valve", "address": "3", "modbusType": "coil"},
                ],
            )
            settings = {"host": "127.0.0.1", "port": server.port}
            body = north_body("plc", "modbus", settings, every_second, transformers=[rule])
            north = await asyncio.to_thread(engine.ok, "POST", "/api/north", body)
            await asyncio.to_thread(engine.wait_state, "north", north["id"], "RUNNING")
            now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            values = [
                {"pointId": "setpoint", "timestamp": now, "data": {"value": "1234"}},
                {"pointId": "valve", "timestamp": now, "data": {"value": "1"}},
                {"pointId": "not mapped", "timestamp": now, "data": {"value": "7"}},
            ]
            await asyncio.to_thread(
                engine.ok, "POST", "/api/content/content?dataSourceId=plant", {"type": "time-values", "content": values}
            )

            async def written() -> bool:
                return await server.get("holding-register", 40) == [1234] and await server.get("coil", 3) == [1]

            await until(written)
        finally:
            code = await asyncio.to_thread(engine.stop)
        assert code == 0, engine.log()[-3000:]
    writes = [request for request in server.requests if request.function_code in (5, 6, 15, 16)]
    assert sorted((request.function_code, request.address) for request in writes) == [(5, 3), (6, 40)]
