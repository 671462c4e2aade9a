"""S7 South read rate against a python-snap7 server in its own process; prints its figures.

    .venv/bin/python bench/s7.py                      # 1,000 REAL items of one data block, 10 s of scans
    .venv/bin/python bench/s7.py --items 4000 --type INT --seconds 20

The server (``tests/servers/s7.py``, a separate process so that its CPU is not counted with the connector's)
holds data block 1; the connector reads ``--items`` consecutive addresses of ``--type`` back to back for
``--seconds``, handing each scan to a sink that only counts. Figures: scans per second, values per second,
read requests per scan (from the connector's grouping), and the connector process's CPU time. It asserts
nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from connectors.base import ConnectorContext, Item, TimeValue  # noqa: E402
from connectors.south.s7 import S7South  # noqa: E402
from connectors.south.s7.address import parse_address, plan  # noqa: E402
from connectors.south.s7.connector import GROUPING_GAP  # noqa: E402
from connectors.south.s7.manifest import S7ItemSettings, S7Settings  # noqa: E402

SIZES = {"BYTE": 1, "INT": 2, "DINT": 4, "REAL": 4, "LREAL": 8}


class CountingSink:
    """A ``ValueSink`` that only counts the values handed over."""

    def __init__(self) -> None:
        self.values = 0

    async def add_values(self, values: list[TimeValue], *, items: list[str] | None = None) -> None:
        self.values += len(values)


class NoLogger:
    def debug(self, event: str, /, **fields: object) -> None: ...
    def info(self, event: str, /, **fields: object) -> None: ...
    def warning(self, event: str, /, **fields: object) -> None: ...
    def error(self, event: str, /, **fields: object) -> None: ...


async def run(port: int, items: int, type_name: str, seconds: float) -> None:
    size = SIZES[type_name]
    settings = msgspec.convert({"host": "127.0.0.1", "port": port}, S7Settings)
    here = Path(".")
    context = ConnectorContext(id="bench", name="bench", logger=NoLogger(), base_folder=here, data_folder=here)
    sink = CountingSink()
    south = S7South(settings, context, sink, None)  # type: ignore[arg-type]  # lastPoint uses no cache.
    scan = [
        Item(
            id=str(index),
            name=f"v{index}",
            enabled=True,
            settings=msgspec.convert({"address": f"DB1,{type_name}{index * size}"}, S7ItemSettings),
        )
        for index in range(items)
    ]
    await south.start()
    try:
        limit = south._client.max_read if south._client else 0
        requests = len(plan([(i.id, parse_address(i.settings.address)) for i in scan], gap=GROUPING_GAP, limit=limit))
        me = psutil.Process()
        cpu_before = sum(me.cpu_times()[:2])
        started = time.perf_counter()
        scans = 0
        while time.perf_counter() - started < seconds:
            await south.last_point(scan)
            scans += 1
        elapsed = time.perf_counter() - started
        cpu = sum(me.cpu_times()[:2]) - cpu_before
    finally:
        await south.stop()
    print(f"s7 bench: {items} {type_name} items, {scans} scans in {elapsed:.1f} s (read size limit {limit} bytes)")
    print(f"  scans/s        {scans / elapsed:10.1f}")
    print(f"  values/s       {sink.values / elapsed:10.0f}")
    print(f"  requests/scan  {requests:10d}")
    print(f"  connector CPU  {cpu:10.2f} s ({100 * cpu / elapsed:.0f}% of one core)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--type", default="REAL", choices=sorted(SIZES))
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    db_size = args.items * SIZES[args.type]
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "servers" / "s7.py"), "--size", str(db_size)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        asyncio.run(run(port, args.items, args.type, args.seconds))
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


if __name__ == "__main__":
    main()
