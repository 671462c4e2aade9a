"""Pace of an interval scan mode: a 500 ms mode driving a real Modbus South, counted at the server; prints it.

    .venv/bin/python bench/scan_interval.py                    # 500 ms, one minute
    .venv/bin/python bench/scan_interval.py --ms 250 --seconds 120

A real engine (``python -m engine``) runs a Modbus South with one item on an ``interval`` scan mode and a
file-writer North. The pymodbus server (``tests/servers/modbus.py``) runs in this process and counts the read
requests it receives. Figures: scans counted over the measured wall time, the rate, its deviation from the
configured period, and the largest gap between two consecutive scans. Stops every process it started; asserts
nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from engine_process import EngineProcess, modbus_south_body, north_body  # noqa: E402
from servers.modbus import modbus_server  # noqa: E402


async def measure(period_ms: int, seconds: float) -> None:
    """Run the engine, count scans at the server over ``seconds``, print the figures."""
    with tempfile.TemporaryDirectory(prefix="oibus-bench-") as tmp:
        async with modbus_server() as server:
            arrivals: list[float] = []
            trace = server._trace

            def timed(sending: bool, pdu: object) -> object:
                if not sending:
                    arrivals.append(time.monotonic())
                return trace(sending, pdu)  # type: ignore[arg-type]

            server._trace = timed  # type: ignore[method-assign,assignment]
            await server.stop()
            await server.start()
            engine = EngineProcess(Path(tmp) / "data")
            await asyncio.to_thread(engine.start)
            try:
                body = {"name": "paced", "type": "interval", "interval": {"value": period_ms, "unit": "ms"}}
                mode = await asyncio.to_thread(engine.ok, "POST", "/api/scan-modes", body)
                (Path(tmp) / "out").mkdir()
                north = north_body("sink", "file-writer", {"outputFolder": str(Path(tmp) / "out")}, mode["id"])
                await asyncio.to_thread(engine.ok, "POST", "/api/north", north)
                await asyncio.to_thread(
                    engine.ok, "POST", "/api/south", modbus_south_body("paced", server.port, mode["id"])
                )
                while len(arrivals) < 3:  # noqa: ASYNC110 (the server offers no event for a request)
                    await asyncio.sleep(0.05)
                started = time.monotonic()
                first = len(arrivals)
                await asyncio.sleep(seconds)
                elapsed = time.monotonic() - started
                window = arrivals[first:]
            finally:
                await asyncio.to_thread(engine.stop)
    period_s = period_ms / 1000
    rate = len(window) / elapsed
    gaps = [later - earlier for earlier, later in itertools.pairwise(window)]
    print(f"interval {period_ms} ms over {elapsed:.2f} s: {len(window)} scans")
    print(
        f"  rate      {rate:.3f} scans/s (configured {1 / period_s:.3f}), deviation {100 * (rate * period_s - 1):+.2f}%"
    )
    if gaps:
        print(f"  gaps      min {min(gaps) * 1000:.1f} ms, max {max(gaps) * 1000:.1f} ms")


def main() -> None:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ms", type=int, default=500, help="the scan mode's period in ms")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to count")
    options = parser.parse_args()
    asyncio.run(measure(options.ms, options.seconds))


if __name__ == "__main__":
    main()
