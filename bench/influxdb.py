"""InfluxDB South (v1, InfluxQL) throughput against Debian's ``influxd`` started here; prints its figures.

    .venv/bin/python bench/influxdb.py                        # 1,000,000 points, one-hour windows
    .venv/bin/python bench/influxdb.py --points 200000 --window 600

``influxd`` is started on kernel-assigned ports in a temporary folder (as the tests do,
``tests/servers/influxdb.py``); ``--points`` points (one every ``--step-ms``, 10 ms by default, a float
field and a tag) are written in batches of 10,000 lines, then read by the ``influxdb`` South in
``--window``-second windows with ``SELECT value FROM temp WHERE time > '@StartTime' AND time <= '@EndTime'``,
as the South runner reads history, on a sink that only counts what it is handed. Figures:

  rows/s      rows read per second of wall time (HTTP query, JSON decoding, rows handed over).
  CPU s / M   CPU seconds (user + system) of this process per million rows: the South's own cost, which the
              load of a shared machine changes far less than the wall figure (influxd's share is apart).
  USS         peak unique set size of this process while reading, sampled every 100 ms.
  load        ``uptime`` before and after the read.

It asserts nothing; the server and its folder are removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from measure import OwnUss, uptime  # noqa: E402
from servers.influxdb import influxdb_v1  # noqa: E402

from connectors.base import ConnectorContext, Item  # noqa: E402
from connectors.south.influxdb import InfluxdbSouth  # noqa: E402
from connectors.south.influxdb.manifest import InfluxdbItemSettings, InfluxdbSettings  # noqa: E402

BASE = datetime(2024, 1, 1, tzinfo=UTC)
BATCH = 10_000


class CountingSink:
    """Counts the rows of the content handed over (JSON rows) and the files (CSV)."""

    def __init__(self) -> None:
        self.rows = 0
        self.files = 0

    async def add_content(self, content: Any, **_: Any) -> None:
        # The rows are msgspec's compact JSON objects of numbers: counting their separators costs next to
        # nothing, so the CPU figure is the South's, not a decoder's in this sink.
        self.rows += content.count("},{") + 1 if content not in ("", "[]") else 0

    async def add_values(self, values: list[Any], **_: Any) -> None:
        self.rows += len(values)

    async def add_file(self, path: Path, **_: Any) -> None:
        self.files += 1
        with path.open("rb") as handle:
            self.rows += max(0, sum(1 for _ in handle) - 1)


class NullLogger:
    def debug(self, event: str, /, **fields: Any) -> None: ...
    def info(self, event: str, /, **fields: Any) -> None: ...
    def warning(self, event: str, /, **fields: Any) -> None: ...
    def error(self, event: str, /, **fields: Any) -> None: ...


def post(url: str, path: str, body: bytes | None = None, **params: str) -> None:
    request = urllib.request.Request(f"{url}{path}?{urllib.parse.urlencode(params)}", data=body, method="POST")
    with urllib.request.urlopen(request, timeout=120) as answer:
        answer.read()


def fill(url: str, points: int, step_ms: int) -> None:
    post(url, "/query", q="CREATE DATABASE bench")
    start_ns = int(BASE.timestamp()) * 10**9
    for first in range(0, points, BATCH):
        lines = (
            f"temp,site=a value={i / 3} {start_ns + i * step_ms * 10**6}"
            for i in range(first, min(points, first + BATCH))
        )
        post(url, "/write", "\n".join(lines).encode(), db="bench", precision="ns")


async def read(port: int, points: int, step_ms: int, window: int, folder: Path) -> tuple[int, float, float]:
    settings = InfluxdbSettings(version="1", host="127.0.0.1", port=port, database="bench")
    sink = CountingSink()
    context = ConnectorContext(id="bench", name="bench", logger=NullLogger(), base_folder=folder, data_folder=folder)
    south = InfluxdbSouth(settings, context, sink, None)  # type: ignore[arg-type]
    query = "SELECT value FROM temp WHERE time > '@StartTime' AND time <= '@EndTime'"
    item = Item(id="i", name="temp", enabled=True, settings=msgspec.convert({"query": query}, InfluxdbItemSettings))
    cursor = BASE - timedelta(seconds=1)
    end = BASE + timedelta(milliseconds=points * step_ms)
    began, cpu = time.perf_counter(), time.process_time()
    while cursor < end:
        upper = min(cursor + timedelta(seconds=window), end)
        await south.history_query([item], cursor, upper)
        cursor = upper
    return sink.rows, time.perf_counter() - began, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--step-ms", type=int, default=10, help="milliseconds between two points")
    parser.add_argument("--window", type=int, default=3600, help="maxReadInterval in seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="oibus-bench-influx-") as tmp, influxdb_v1(Path(tmp)) as server:
        started = time.monotonic()
        fill(server.url, args.points, args.step_ms)
        print(f"{args.points:,} points written in {time.monotonic() - started:.0f} s", flush=True)
        print(f"uptime before: {uptime()}", flush=True)
        with OwnUss() as uss:
            rows, seconds, cpu_seconds = asyncio.run(
                read(server.port, args.points, args.step_ms, args.window, Path(tmp) / "south")
            )
        print(f"uptime after:  {uptime()}", flush=True)
    print(f"rows        {rows:,} of {args.points:,} points, {args.window} s windows")
    print(f"rows/s      {rows / seconds:,.0f}  ({seconds:.1f} s)")
    print(f"CPU s / M   {cpu_seconds / rows * 1e6:.1f}  ({cpu_seconds:.1f} CPU s)")
    print(f"USS peak    {uss.peak / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
