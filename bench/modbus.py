"""Modbus South throughput against a pymodbus TCP server in its own process; prints its figures.

    .venv/bin/python bench/modbus.py                          # 20,000 uint16 items, 20 s of scans
    .venv/bin/python bench/modbus.py --items 65000 --seconds 30
    .venv/bin/python bench/modbus.py --data-type double --items 16000

A real engine (``python -m engine``) runs a Modbus South whose items cover consecutive holding registers of the
server (``tests/servers/modbus.py``, started as a separate process so that its CPU is not counted in the
worker's), scanned every second, and a file-writer North that stores what it reads. Figures:

  per scan   registers (and values) per run divided by the run's duration as the worker measures it
             (``lastRunDuration``: every request of the scan, then the hand-over until the North stored it):
             the rate while reading.
  sustained  values handed over (``numberOfValuesRetrieved``) per second of wall time over the window; a scan
             fires once a second, so this is at most items/s.
  CPU        CPU time of each process of the engine tree and of the server over the window.
  memory     USS/PSS/RSS of each process (psutil ``memory_full_info``) at the end.

Every process the script starts is stopped (then killed if need be), also on Ctrl-C. It asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from engine_process import AUTH, EngineProcess, scan_mode_id, wait_for  # noqa: E402
from pipeline import CpuWatch, Fleet, _on_sigterm, file_writer_body, label  # noqa: E402

MIB = 1024 * 1024
WORDS = {"uint16": 1, "int16": 1, "uint32": 2, "int32": 2, "float": 2, "big-uint64": 4, "big-int64": 4, "double": 4}


def modbus_south_body(port: int, scan_mode: str, items: int, data_type: str, grouping_gap: int) -> dict[str, Any]:
    words = WORDS[data_type]
    return {
        "name": "modbus-bench",
        "type": "modbus",
        "description": "",
        "enabled": True,
        "settings": {"host": "127.0.0.1", "port": port, "batchQuery": True, "groupingGap": grouping_gap},
        "items": [
            {
                "name": f"r{index:05d}",
                "enabled": True,
                "scanModeId": scan_mode,
                "settings": {
                    "address": str(index * words),
                    "modbusType": "holding-register",
                    "data": {"dataType": data_type, "multiplierCoefficient": 1},
                },
            }
            for index in range(items)
        ],
        "groups": [],
    }


def south_metrics(engine: EngineProcess, south_id: str) -> dict[str, float]:
    """The South's numeric metrics from the Prometheus endpoint."""
    request = urllib.request.Request(f"{engine.url}/metrics", headers={"Authorization": AUTH})
    with urllib.request.urlopen(request, timeout=30) as answer:
        text = answer.read().decode()
    found: dict[str, float] = {}
    pattern = re.compile(r'^oibus_south_(\w+)\{id="' + re.escape(south_id) + r'"\} (\S+)$', re.MULTILINE)
    for name, value in pattern.findall(text):
        found[name] = float(value)
    return found


def start_server(size: int) -> tuple[subprocess.Popen[bytes], int]:
    """The Modbus server in its own process, on the port the system assigns it (its first line says which)."""
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "servers" / "modbus.py"), "--size", str(size)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert server.stdout is not None
    line = server.stdout.readline().decode()
    if not line.startswith("listening"):
        raise RuntimeError(f"Modbus server did not start: {line}{server.stdout.read().decode()[-2000:]}")
    return server, int(line.rsplit(":", 1)[1])


def memory_lines(procs: list[tuple[str, psutil.Process]]) -> list[str]:
    lines = []
    for name, proc in procs:
        with contextlib.suppress(psutil.Error):
            info = proc.memory_full_info()
            sizes = f"USS {info.uss / MIB:6.1f} MiB  PSS {info.pss / MIB:6.1f} MiB  RSS {info.rss / MIB:6.1f} MiB"
            lines.append(f"    {name:<26} {sizes}")
    return lines


@dataclass
class Window:
    """What a South did over a measured window of its scans: values handed over, run durations, CPU."""

    wall: float
    values: float
    median_ms: float
    samples: int
    cpu: CpuWatch
    server: psutil.Process
    server_cpu: float

    def report_lines(self, kind: str, engine: EngineProcess, south_id: str, north_id: str, output: Path) -> list[str]:
        """CPU split (the peer server too), memory of every process, and what the North wrote."""
        share = 100 * self.server_cpu / self.wall
        lines = [
            *self.cpu.report(int(self.values), "value"),
            f"      {kind + ' server (own process)':<24} {self.server_cpu:7.2f} CPU-s  = {share:5.1f}% of one CPU",
            "\n  memory at the end:",
        ]
        assert engine.proc is not None
        procs = [(label(proc, engine.proc.pid), proc) for proc in engine.tree()]
        procs = [(name.replace(south_id[:8], kind).replace(north_id[:8], "file-writer"), p) for name, p in procs]
        lines += memory_lines([*procs, (f"{kind} server (not OIBus)", self.server)])
        files = sum(1 for _ in output.iterdir())
        state = engine.ok("GET", f"/api/south/{south_id}").get("state")
        lines.append(f"\n  check: {files} files written by the North; South state {state}")
        return lines


def measure_window(engine: EngineProcess, south_id: str, server_pid: int, seconds: float) -> Window:
    """Watch a warmed-up South for ``seconds``: its metrics before and after, ``lastRunDuration`` 4 times a second."""
    server = psutil.Process(server_pid)
    server_cpu0 = sum(server.cpu_times()[:2])
    cpu = CpuWatch(engine).start()
    first = south_metrics(engine, south_id)
    started = time.monotonic()
    durations: list[float] = []  # lastRunDuration sampled 4 times a second: the duration of a recent run
    while time.monotonic() - started < seconds:
        time.sleep(0.25)
        current = south_metrics(engine, south_id).get("last_run_duration")
        if current:
            durations.append(current)
    last = south_metrics(engine, south_id)
    wall = time.monotonic() - started
    values = last.get("number_of_values_retrieved", 0) - first.get("number_of_values_retrieved", 0)
    run_ms = sorted(durations)
    return Window(
        wall=wall,
        values=values,
        median_ms=run_ms[len(run_ms) // 2] if run_ms else float("nan"),
        samples=len(run_ms),
        cpu=cpu,
        server=server,
        server_cpu=sum(server.cpu_times()[:2]) - server_cpu0,
    )


def run(args: argparse.Namespace, fleet: Fleet, tmp: Path) -> None:
    words = WORDS[args.data_type]
    registers_per_scan = args.items * words
    if registers_per_scan > 65536:
        raise SystemExit(f"{args.items} {args.data_type} items need {registers_per_scan} registers (at most 65,536)")
    server, port = start_server(registers_per_scan)
    fleet.raw.append(server)
    engine = fleet.engine(tmp / "data", args.log_level)
    every_second = scan_mode_id(engine, "Every second")
    output = tmp / "output"
    output.mkdir()
    north = engine.ok("POST", "/api/north", file_writer_body("modbus-out", output, every_second))
    engine.wait_state("north", north["id"], "RUNNING")
    body = modbus_south_body(port, every_second, args.items, args.data_type, args.grouping_gap)
    south = engine.ok("POST", "/api/south", body)
    engine.wait_state("south", south["id"], "RUNNING", timeout_s=60)
    print(
        f"Modbus South: {args.items:,} {args.data_type} items = {registers_per_scan:,} holding registers per scan, "
        f"batchQuery, groupingGap {args.grouping_gap}, scan every second; file-writer North; server pid {server.pid}"
    )
    # Warm up: the first scans import and plan.
    wait_for(
        lambda: south_metrics(engine, south["id"]).get("number_of_values_retrieved", 0) >= 2 * args.items, 60, "warm-up"
    )

    window = measure_window(engine, south["id"], server.pid, args.seconds)
    wall, values, median_ms = window.wall, window.values, window.median_ms
    scans = values / args.items
    print(f"\n  window: {wall:.1f} s, {scans:.1f} scans, {values:,.0f} values handed over")
    print(
        f"  per scan (median run {median_ms:.0f} ms, {window.samples} samples): "
        f"{registers_per_scan / median_ms * 1000:,.0f} registers/s, {args.items / median_ms * 1000:,.0f} values/s"
    )
    print(
        f"  sustained: {values * words / wall:,.0f} registers/s, {values / wall:,.0f} values/s "
        f"(scan-limited: one scan a second)"
    )
    print("\n".join(window.report_lines("modbus", engine, south["id"], north["id"], output)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--data-type", choices=sorted(WORDS), default="uint16")
    parser.add_argument("--grouping-gap", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--tmp", default=None, help="folder for the temporary data (default: the system's)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _on_sigterm)
    fleet = Fleet()
    tmp = Path(tempfile.mkdtemp(prefix="oibus-bench-modbus-", dir=args.tmp))
    try:
        run(args, fleet, tmp)
    finally:
        fleet.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
