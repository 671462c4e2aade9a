"""A 500 ms interval scan mode drives a real Modbus South worker at 2 scans per second.

The engine and its workers are real processes; the Modbus server runs in this test and counts the read
requests it receives, so a scan is counted where it lands, not where it is reported. The rate is the
count over the elapsed time this test measured itself (nothing is asserted on a wall-clock duration).
``bench/scan_interval.py`` prints the same figure over a full minute.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from engine_process import EngineProcess, modbus_south_body, north_body, until
from servers.modbus import modbus_server

MEASURED_S = 30.0
PERIOD_S = 0.5


async def test_a_500_ms_interval_scans_a_real_south_twice_a_second(tmp_path: Path) -> None:
    async with modbus_server() as server:
        engine = EngineProcess(tmp_path / "data")
        await asyncio.to_thread(engine.start)
        try:
            interval = {"name": "half second", "type": "interval", "interval": {"value": 500, "unit": "ms"}}
            mode = await asyncio.to_thread(engine.ok, "POST", "/api/scan-modes", interval)
            output = tmp_path / "out"
            output.mkdir()
            north = north_body("sink", "file-writer", {"outputFolder": str(output)}, mode["id"])
            await asyncio.to_thread(engine.ok, "POST", "/api/north", north)
            await asyncio.to_thread(
                engine.ok, "POST", "/api/south", modbus_south_body("paced", server.port, mode["id"])
            )

            async def scanning() -> bool:
                return len(server.requests) >= 3

            await until(scanning, 60)
            first, started = len(server.requests), time.monotonic()
            await asyncio.sleep(MEASURED_S)
            last, elapsed = len(server.requests), time.monotonic() - started
            expected = elapsed / PERIOD_S
            rate = (last - first) / elapsed
            assert abs((last - first) - expected) <= 0.05 * expected, (
                f"{last - first} scans in {elapsed:.2f} s = {rate:.3f}/s, expected 2/s within 5%"
            )
            # Every request counted is the one item's read (no retries or connection probes among them).
            assert all(request.function_code == 3 and request.address == 0 for request in server.requests)
        finally:
            code = await asyncio.to_thread(engine.stop)
        assert code == 0, engine.log()[-3000:]
