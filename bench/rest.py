"""REST North throughput against a local aiohttp sink (the connector alone, no engine around it).

    .venv/bin/python bench/rest.py                      # 2,000 files of 10 kB, 2,000 batches of 1,000 values
    .venv/bin/python bench/rest.py --files 5000 --file-kb 100 --batches 500 --values 1000

One RestNorth sends, one entry at a time as the North cache hands them over, to an in-process aiohttp target
on loopback that reads each body and answers 200. Printed: files/s (raw-body POST) and values/s (JSON batches,
the cached bytes sent as they are). Not a test: it asserts nothing about timings.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from fakes import RecordingLogger  # noqa: E402
from servers.rest_target import RestTarget  # noqa: E402

from connectors.base import ConnectorContext  # noqa: E402
from connectors.north.rest import RestNorth  # noqa: E402
from connectors.north.rest.manifest import RestNorthSettings  # noqa: E402


async def run(args: argparse.Namespace) -> None:
    async with RestTarget(record=False) as target:
        settings = msgspec.convert({"host": target.url, "endpoint": "/in"}, RestNorthSettings)
        context = ConnectorContext(
            id="bench", name="bench", logger=RecordingLogger(), base_folder=Path("."), data_folder=Path(".")
        )
        north = RestNorth(settings, context)
        await north.start()
        try:
            with tempfile.TemporaryDirectory() as scratch:
                path = Path(scratch) / "data.csv"
                path.write_bytes(b"x" * (args.file_kb * 1024))
                started = time.perf_counter()
                for index in range(args.files):
                    await north.handle_file(path, f"file-{index}.csv")
                files_s = args.files / (time.perf_counter() - started)
            batch = msgspec.json.encode(
                [
                    {"pointId": f"p{i % 50}", "timestamp": "2026-01-01T00:00:00.000Z", "data": {"value": i}}
                    for i in range(args.values)
                ]
            )
            started = time.perf_counter()
            for _ in range(args.batches):
                await north.handle_values_json(batch)
            values_s = args.batches * args.values / (time.perf_counter() - started)
        finally:
            await north.stop()
        assert target.count == args.files + args.batches
    print(f"REST North: {files_s:,.0f} files/s ({args.file_kb} kB each, {args.files} files)")
    print(f"REST North: {values_s:,.0f} values/s ({args.values} values per batch, {args.batches} batches)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--file-kb", type=int, default=10)
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--values", type=int, default=1000)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
