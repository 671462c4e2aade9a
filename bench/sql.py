"""PostgreSQL South throughput into CSV, and the memory of the process doing it; prints its figures.

    .venv/bin/python bench/sql.py                     # 1,000,000 rows, one window
    .venv/bin/python bench/sql.py --rows 5000000 --window 3600
    .venv/bin/python bench/sql.py --rows 2000000 --step-ms 1000 --window 86400   # 1-second data, daily windows

A table of ``--rows`` rows (one every ``--step-ms``, 10 ms by default, ``generate_series``) is created
in a new database of the machine's PostgreSQL (trust auth, user ``postgres``), then read by the ``postgresql`` South in
``--window``-second windows into CSV files (reference field ``timestamptz``, output ``yyyy-MM-dd
HH:mm:ss.SSS`` in Europe/Paris), as the worker would, on a sink that only counts. Figures:

  rows/s     rows written to CSV per second of wall time (query, streaming, conversion, file writing).
  rows/CPU-s rows per CPU second of this process (user + system): the South's own cost, which other
             tenants of a shared machine do not change (the wall figure also holds the server's share).
  USS        peak unique set size of this process (the worker's share) while reading, sampled every 100 ms.

The database is dropped at the end. It asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from measure import OwnUss

from connectors.base import ConnectorContext, Item
from connectors.common.sql.settings import SqlItemSettings
from connectors.south.postgresql import PostgresqlSouth
from connectors.south.postgresql.manifest import PostgresqlSettings

BASE = datetime(2024, 1, 1, tzinfo=UTC)


class CountingSink:
    """Counts the files handed over (their bytes are already on disk)."""

    def __init__(self) -> None:
        self.files = 0
        self.bytes = 0

    async def add_file(
        self, path: Path, *, filename: str | None = None, owned: bool = False, items: list[str] | None = None
    ) -> None:
        self.files += 1
        self.bytes += await asyncio.to_thread(lambda: path.stat().st_size)


class NullLogger:
    def debug(self, event: str, /, **fields: Any) -> None: ...
    def info(self, event: str, /, **fields: Any) -> None: ...
    def warning(self, event: str, /, **fields: Any) -> None: ...
    def error(self, event: str, /, **fields: Any) -> None: ...


def psql(database: str, sql: str) -> None:
    subprocess.run(["psql", "-X", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-c", sql], check=True)


async def read(database: str, rows: int, step_ms: int, window: int, folder: Path) -> tuple[int, float, float]:
    settings = PostgresqlSettings(host="127.0.0.1", database=database, username="postgres", request_timeout=600_000)
    sink = CountingSink()
    context = ConnectorContext(id="bench", name="bench", logger=NullLogger(), base_folder=folder, data_folder=folder)
    south = PostgresqlSouth(settings, context, sink, None)  # type: ignore[arg-type]
    item_settings = msgspec.convert(
        {
            "query": "SELECT id, ts, value FROM data WHERE ts > @StartTime AND ts <= @EndTime",
            "dateTimeFields": [{"fieldName": "ts", "useAsReference": True, "type": "timestamptz"}],
        },
        SqlItemSettings,
    )
    item = Item(id="i", name="data", enabled=True, settings=item_settings)
    start = BASE - timedelta(seconds=1)
    end = BASE + timedelta(milliseconds=rows * step_ms)
    began = time.perf_counter()
    cpu = time.process_time()
    cursor = start
    while cursor < end:
        upper = min(cursor + timedelta(seconds=window), end)
        await south.history_query([item], cursor, upper)
        cursor = upper
    return sink.files, time.perf_counter() - began, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--step-ms", type=int, default=10, help="milliseconds between two rows")
    parser.add_argument("--window", type=int, default=0, help="seconds per window (0: one window)")
    args = parser.parse_args()
    database = f"oibus_bench_{uuid.uuid4().hex[:10]}"
    psql("postgres", f"CREATE DATABASE {database}")
    try:
        psql(
            database,
            "CREATE TABLE data (id bigint PRIMARY KEY, ts timestamptz NOT NULL, value double precision);"
            f"INSERT INTO data SELECT i, '{BASE.isoformat()}'::timestamptz + i * interval '{args.step_ms} ms', i / 3.0 "
            f"FROM generate_series(0, {args.rows - 1}) AS i; CREATE INDEX ON data (ts); ANALYZE data",
        )
        window = args.window or args.rows * args.step_ms // 1000 + 2
        with OwnUss() as uss, tempfile.TemporaryDirectory() as folder:
            files, seconds, cpu_seconds = asyncio.run(read(database, args.rows, args.step_ms, window, Path(folder)))
        peak = [uss.peak]
        print(f"rows        {args.rows:,} in {files} CSV file(s)")
        print(f"rows/s      {args.rows / seconds:,.0f}  ({seconds:.1f} s)")
        print(f"rows/CPU-s  {args.rows / cpu_seconds:,.0f}  ({cpu_seconds:.1f} CPU s)")
        print(f"USS peak    {peak[0] / 2**20:.1f} MiB")
    finally:
        psql("postgres", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


if __name__ == "__main__":
    main()
