"""OPC UA South benchmark against REAL processes: an asyncua server process, the engine and its workers.

    .venv/bin/python bench/opcua.py                        # 10,000 items, 30 s per phase
    .venv/bin/python bench/opcua.py --items 2000 --seconds 15 --only poll

The server (tests/servers/opcua.py, its own process so its CPU is not counted) serves N Double variables
that all change every second. Phases (each labelled with its unit):
  poll          one OPC UA South, N DA items in ONE group (the "Every second" scan mode): one batched Read of
                N nodes per second.
  subscription  one OPC UA South, N DA items of the ``subscription`` scan mode: N monitored items, each
                delivering every change.
Both hand their values to a file-writer North (the values are counted in its output files, by their
``timestamp``, which is the time of the read: timestampOrigin ``oibus``). Printed per phase: values/s over the
measured window, the South worker's CPU share (psutil cpu_times; target: under a quarter of a core) and
its memory (USS/PSS, psutil memory_full_info). Nothing is asserted: this is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from engine_process import EngineProcess, north_body, scan_mode_id, wait_for  # noqa: E402

MIB = 1024 * 1024


def start_server(items: int) -> tuple[subprocess.Popen[str], str]:
    """The OPC UA server in its own process, on the port the system assigns it (its ``ready`` line gives the URL)."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "servers" / "opcua.py"), "--items", str(items)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("ready"):
        proc.kill()
        raise RuntimeError(f"OPC UA server did not start: {line!r}")
    return proc, line.split(maxsplit=1)[1].strip()


def south_body(url: str, items: int, scan_mode: str, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": "opcua",
        "description": "",
        "enabled": True,
        "settings": {"url": url, "readTimeout": 30000, "maxNumberOfMessages": 10000, "flushMessageTimeout": 1000},
        "items": [
            {
                "name": f"item-{i}",
                "enabled": True,
                "scanModeId": scan_mode,
                "settings": {"nodeId": f"ns=2;s=Item{i}", "mode": "da", "timestampOrigin": "oibus"},
            }
            for i in range(items)
        ],
        "groups": [],
    }


def worker_of(engine: EngineProcess, kind: str, connector_id: str) -> psutil.Process:
    key = f"{kind}:{connector_id}"
    for proc in engine.tree():
        with contextlib.suppress(psutil.Error):
            if key in proc.cmdline():
                return proc
    raise LookupError(f"no worker {key}")


def count_values(folder: Path, start: datetime, end: datetime) -> int:
    """Values in the file-writer's output whose timestamp is within [start, end)."""
    low = start.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    high = end.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    count = 0
    for path in folder.glob("*.json"):
        with contextlib.suppress(OSError, ValueError):
            for value in json.loads(path.read_bytes()):
                if low <= value["timestamp"] < high:
                    count += 1
    return count


def phase(
    engine: EngineProcess,
    server: psutil.Process,
    name: str,
    url: str,
    items: int,
    scan_mode: str,
    seconds: float,
    out: Path,
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    north = engine.ok(
        "POST",
        "/api/north",
        north_body(
            f"files-{name}",
            "file-writer",
            {"outputFolder": str(out), "prefix": "", "suffix": ""},
            scan_mode_id(engine, "Every second"),
            trigger={"numberOfElements": 10000},
        ),
    )
    engine.wait_state("north", north["id"], "RUNNING", timeout_s=60)
    started = time.monotonic()
    south = engine.ok("POST", "/api/south", south_body(url, items, scan_mode, f"opcua-{name}"))
    engine.wait_state("south", south["id"], "RUNNING", timeout_s=120)
    print(f"    South RUNNING {time.monotonic() - started:.1f} s after its POST ({items:,} items)")
    wait_for(lambda: any(out.glob("*.json")), 300, "first values in the output folder")
    print(f"    first values stored {time.monotonic() - started:.1f} s after the POST")
    time.sleep(3)  # warm-up: subscription fully created, first reads done
    worker = worker_of(engine, "south", south["id"])
    cpu0 = worker.cpu_times()
    server0 = server.cpu_times()
    t0 = datetime.now(UTC)
    wall0 = time.monotonic()
    time.sleep(seconds)
    cpu1 = worker.cpu_times()
    server1 = server.cpu_times()
    wall = time.monotonic() - wall0
    t1 = datetime.now(UTC)
    memory = worker.memory_full_info()
    engine.ok("DELETE", f"/api/south/{south['id']}")
    # Values of the window still in the pipe (North cache, file writes) reach the files: wait until quiet.
    previous = -1
    while (current := sum(1 for _ in out.glob("*.json"))) != previous:
        previous = current
        time.sleep(3)
    values = count_values(out, t0, t1)
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    engine.ok("DELETE", f"/api/north/{north['id']}")
    print(f"    values: {values:,} in {wall:.1f} s = {values / wall:,.0f} values/s (expected {items:,}/s)")
    print(
        f"    South worker CPU: {cpu:.2f} CPU-s over {wall:.1f} s = {100 * cpu / wall:.1f}% of one core "
        f"(target < 25%); {cpu / max(values, 1) * 1e6:.1f} CPU-us per value"
    )
    server_cpu = (server1.user - server0.user) + (server1.system - server0.system)
    print(f"    (OPC UA server process, not counted: {100 * server_cpu / wall:.0f}% of one core)")
    print(
        f"    South worker memory: USS {memory.uss / MIB:.1f} MiB, PSS {memory.pss / MIB:.1f} MiB, "
        f"RSS {memory.rss / MIB:.1f} MiB"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--only", default="poll,subscription")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="oibus-bench-opcua-"))
    server: subprocess.Popen[str] | None = None
    engine: EngineProcess | None = None
    try:
        server, url = start_server(args.items)
        print(f"OPC UA server pid {server.pid} at {url}: {args.items:,} Double variables changing every second")
        engine = EngineProcess(tmp / "data", log_level="warning").start(timeout_s=60)
        for name in args.only.split(","):
            mode = "subscription" if name == "subscription" else scan_mode_id(engine, "Every second")
            print(f"\n[{name}] {args.items:,} items, measured over {args.seconds:.0f} s")
            peer = psutil.Process(server.pid)
            phase(engine, peer, name, url, args.items, mode, args.seconds, tmp / f"out-{name}")
    finally:
        if engine is not None and engine.proc is not None and engine.proc.poll() is None:
            with contextlib.suppress(Exception):
                engine.stop()
        if server is not None:
            server.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(10)
            if server.poll() is None:
                server.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
