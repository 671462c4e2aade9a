"""Issue 4, acceptance 4, the whole way: setpoints from OIAnalytics reach a Modbus server through a North.

OIAnalytics' ``setpoint`` command goes to a Modbus North whose ``oianalytics-setpoint`` rule maps references
to addresses (``setpoint-to-modbus``); the values are read back from the real in-process pymodbus server.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from engine_process import north_body, scan_mode_id, until
from oia_support import registered_engine
from servers.modbus import modbus_server
from servers.oianalytics import FakeOIAnalytics
from test_commands_functional import Commands


async def test_setpoints_from_oianalytics_are_written_to_the_modbus_server(tmp_path: Path) -> None:
    async with modbus_server() as server:
        fake = FakeOIAnalytics()
        with fake, registered_engine(tmp_path, fake) as engine:
            commands = Commands(fake, (await asyncio.to_thread(engine.ok, "GET", "/api/engine/info"))["version"])
            every_second = await asyncio.to_thread(scan_mode_id, engine, "Every second")
            rule: dict[str, Any] = {
                "source": {"type": "oianalytics-setpoint"},
                "transformerId": "setpoint-to-modbus",
                "options": {
                    "mapping": [
                        {"reference": "speed", "address": "40", "modbusType": "register"},
                        {"reference": "pump", "address": "3", "modbusType": "coil"},
                    ]
                },
            }
            settings = {"host": "127.0.0.1", "port": server.port}
            body = north_body("plc", "modbus", settings, every_second, transformers=[rule])
            north = await asyncio.to_thread(engine.ok, "POST", "/api/north", body)
            await asyncio.to_thread(engine.wait_state, "north", north["id"], "RUNNING")
            setpoints = [{"reference": "speed", "value": 1500}, {"reference": "pump", "value": 1}]
            # The command's status comes back once the North stored them; the write follows at its next send.
            await asyncio.to_thread(
                commands.completed, "setpoint", northConnectorId=north["id"], commandContent=setpoints
            )

            async def written() -> bool:
                return await server.get("holding-register", 40) == [1500] and await server.get("coil", 3) == [1]

            await until(written)
