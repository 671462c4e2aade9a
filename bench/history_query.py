"""A history query PostgreSQL -> CSV (file-writer) in a REAL engine: rows/s and the South worker's USS.

    .venv/bin/python bench/history_query.py                   # one year of 1-second data: 31,536,000 rows
    .venv/bin/python bench/history_query.py --rows 3000000    # a smaller run (same shape, fewer seconds)

A table of ``--rows`` rows (one a second from 2025-01-01, ``generate_series``) is created in a new database
of the machine's PostgreSQL (trust auth, user ``postgres``). A history query reads it with the PostgreSQL
South in ``--window``-second windows (reference field ``timestamptz``) into a file-writer North as CSV, in an
engine process of its own. Figures:

  rows/s     rows of the table divided by the wall time from ``POST .../start`` until the query is FINISHED
             (every CSV written by the North into the output folder, its cache empty).
  USS        peak unique set size of the history query's South worker, sampled every 100 ms.
  CPU s / M  CPU seconds (user + system) per million rows of the South worker, the North worker and the
             engine process, and of the PostgreSQL backends serving the query (the postmaster's children
             whose process title names the bench's database, sampled every 10 ms: each read has a backend
             of its own, living a fraction of a second; one living less than 10 ms is missed): what the
             run costs, which a busy shared machine changes far less than rows/s.
  load       ``uptime`` before and after the run (the machine may be shared: read rows/s against it).

The database, data folder and output are removed at the end. This is a benchmark: it asserts nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from engine_process import EngineProcess, wait_for  # noqa: E402
from history_support import history_body, postgres, sql_item  # noqa: E402

MIB = 1024 * 1024
YEAR_OF_SECONDS = 365 * 24 * 3600


def psql(database: str, sql: str) -> str:
    """Run ``sql`` as ``postgres`` on loopback."""
    command = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres", "-d", database]
    return subprocess.run([*command, "-At", "-c", sql], capture_output=True, text=True, check=True).stdout.strip()


class PeakUss:
    """Samples the USS and CPU time of the processes whose command line names ``marker`` (found again if restarted).

    ``root``: among its descendants; ``None``: among every process of the machine. ``every_s``: the sampling
    period.
    """

    def __init__(self, root: psutil.Process | None, marker: str, every_s: float = 0.1) -> None:
        self.root, self.marker, self.peak, self.every_s = root, marker, 0, every_s
        self.cpu: dict[int, float] = {}
        """CPU seconds (user + system) last seen of each process of ``marker`` (a restarted one adds a pid)."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            candidates = self.root.children(recursive=True) if self.root is not None else psutil.process_iter()
            for child in candidates:
                try:
                    if self.marker in " ".join(child.cmdline()):
                        self.peak = max(self.peak, child.memory_full_info().uss)
                        times = child.cpu_times()
                        self.cpu[child.pid] = times.user + times.system
                except psutil.Error:
                    continue

    def stop(self) -> int:
        """Stop sampling; the peak in bytes."""
        self._stop.set()
        self._thread.join(timeout=5)
        return self.peak

    @property
    def cpu_seconds(self) -> float:
        """CPU seconds of every process of ``marker`` (up to its last sample: at most 100 ms short)."""
        return sum(self.cpu.values())


def postmaster() -> psutil.Process | None:
    """The PostgreSQL server's main process (a ``postgres`` whose parent is not one), if this user can see it."""
    names = ("postgres", "postmaster")
    for process in psutil.process_iter(["name"]):
        try:
            parent = process.parent()
            if process.info["name"] in names and (parent is None or parent.name() not in names):
                return process
        except psutil.Error:
            continue
    return None


def query_body(database: str, output: Path, rows: int, window_s: int) -> dict[str, object]:
    end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.mktime((2025, 1, 1, 0, 0, 0, 0, 0, 0)) + rows + 1))
    south = postgres(database, connectionTimeout=10000, requestTimeout=600000)
    return history_body("bench", ("2025-01-01T00:00:00Z", end, window_s), south, output, [sql_item("seconds")])


def uptime() -> str:
    """The machine's ``uptime`` line (its load averages)."""
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def run(rows: int, window_s: int) -> None:
    database = f"oibus_bench_{uuid.uuid4().hex[:10]}"
    psql("postgres", f"CREATE DATABASE {database}")
    try:
        started = time.monotonic()
        psql(
            database,
            "CREATE TABLE data (ts timestamptz PRIMARY KEY, value bigint NOT NULL);"
            "INSERT INTO data SELECT '2025-01-01T00:00:00Z'::timestamptz + i * interval '1 second', i "
            f"FROM generate_series(1, {rows}) AS i",
        )
        print(f"table of {rows:,} rows made in {time.monotonic() - started:.0f} s", flush=True)
        with tempfile.TemporaryDirectory(prefix="oibus-bench-history-") as tmp:
            output = Path(tmp) / "out"
            output.mkdir()
            engine = EngineProcess(Path(tmp) / "data", log_level="warn").start()
            try:
                query = engine.ok("POST", "/api/history-queries", query_body(database, output, rows, window_s))
                assert engine.proc is not None
                root = psutil.Process(engine.proc.pid)
                uss = PeakUss(root, f"south:history-{query['id']}")
                north = PeakUss(root, f"north:history-{query['id']}")
                backends = PeakUss(postmaster(), f" {database} ", every_s=0.01)
                engine_cpu = sum(root.cpu_times()[:2])
                print(f"uptime before: {uptime()}", flush=True)
                started = time.monotonic()
                engine.ok("POST", f"/api/history-queries/{query['id']}/start")
                done = lambda: engine.ok("GET", f"/api/history-queries/{query['id']}")["status"] == "FINISHED"  # noqa: E731
                wait_for(done, 6 * 3600, "history query FINISHED", poll_s=0.2)
                elapsed = time.monotonic() - started
                print(f"uptime after:  {uptime()}", flush=True)
                peak = uss.stop()
                north.stop()
                backends.stop()
                engine_cpu = sum(root.cpu_times()[:2]) - engine_cpu
            finally:
                engine.stop()
            files = list(output.glob("*.csv"))
            print(f"{len(files)} CSV files, {sum(path.stat().st_size for path in files) / MIB:.0f} MiB")
        print(f"history query: {rows:,} rows in {elapsed:.1f} s = {rows / elapsed:,.0f} rows/s (target >= 200,000)")
        print(f"South worker peak USS: {peak / MIB:.1f} MiB (target < 150 MiB)")
        per_million = 1e6 / rows
        print(
            f"CPU s per million rows: South worker {uss.cpu_seconds * per_million:.2f}, "
            f"North worker {north.cpu_seconds * per_million:.2f}, engine {engine_cpu * per_million:.2f}, "
            f"PostgreSQL backends {backends.cpu_seconds * per_million:.2f} "
            "(user + system; independent of the machine's load, unlike rows/s)"
        )
        if rows != YEAR_OF_SECONDS:
            print(f"(a {rows:,}-row run; one year of 1-second data is {YEAR_OF_SECONDS:,} rows: run without --rows)")
    finally:
        psql("postgres", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=YEAR_OF_SECONDS, help="rows in the table (default: a year)")
    parser.add_argument("--window", type=int, default=86_400, help="maxReadInterval in seconds (default: a day)")
    args = parser.parse_args()
    run(args.rows, args.window)


if __name__ == "__main__":
    main()
