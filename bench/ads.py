"""ADS South read rate against pyads' ADS test server in its own process, through a real engine; prints its figures.

    .venv/bin/python bench/ads.py                        # 1,000 REAL symbols, scanned every second, 20 s
    .venv/bin/python bench/ads.py --items 5000 --seconds 30

A real engine (``python -m engine``) runs an ADS South whose items are ``--items`` REAL symbols of the server
(``tests/servers/ads.py``, started as a separate process so that its CPU is not counted in the worker's), all
read in sum reads of up to 500 symbols each second, and a file-writer North that stores what it reads. Figures:

  per scan   values per run divided by the run's duration as the worker measures it (``lastRunDuration``: the
             sum reads of the scan, then the hand-over until the North stored it): the rate while reading.
  sustained  values handed over (``numberOfValuesRetrieved``) per second of wall time over the window; a scan
             fires once a second, so this is at most items/s.
  CPU        CPU time of each process of the engine tree and of the server over the window.
  memory     USS/PSS/RSS of each process (psutil ``memory_full_info``) at the end; the South worker's USS is
             the figure of interest.

pyads' test server answers each request in Python, one at a time: it, not the South, bounds the rate. Every
process the script starts is stopped (then killed if need be), also on Ctrl-C. It asserts nothing.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from engine_process import EngineProcess, scan_mode_id, wait_for  # noqa: E402
from measure import uptime  # noqa: E402
from modbus import measure_window, south_metrics  # noqa: E402
from pipeline import Fleet, _on_sigterm, file_writer_body  # noqa: E402


def ads_south_body(port: int, scan_mode: str, items: int) -> dict[str, Any]:
    return {
        "name": "ads-bench",
        "type": "ads",
        "description": "",
        "enabled": True,
        "settings": {"netId": "127.0.0.1.1.1", "routerAddress": "127.0.0.1", "routerTcpPort": port},
        "items": [
            {
                "name": f"v{index:05d}",
                "enabled": True,
                "scanModeId": scan_mode,
                "settings": {"address": f"MAIN.v{index}"},
            }
            for index in range(items)
        ],
        "groups": [],
    }


def start_server(symbols: int) -> tuple[subprocess.Popen[bytes], int]:
    """The ADS server in its own process, on the port the system assigns it (its first line says which)."""
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "servers" / "ads.py"), "--symbols", str(symbols)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert server.stdout is not None
    line = server.stdout.readline().decode()
    if not line.startswith("listening"):
        raise RuntimeError(f"ADS server did not start: {line}{server.stdout.read().decode()[-2000:]}")
    return server, int(line.rsplit(":", 1)[1])


def run(args: argparse.Namespace, fleet: Fleet, tmp: Path) -> None:
    server, port = start_server(args.items)
    fleet.raw.append(server)
    engine: EngineProcess = fleet.engine(tmp / "data", args.log_level)
    every_second = scan_mode_id(engine, "Every second")
    output = tmp / "output"
    output.mkdir()
    north = engine.ok("POST", "/api/north", file_writer_body("ads-out", output, every_second))
    engine.wait_state("north", north["id"], "RUNNING")
    south = engine.ok("POST", "/api/south", ads_south_body(port, every_second, args.items))
    engine.wait_state("south", south["id"], "RUNNING", timeout_s=60)
    print(
        f"ADS South: {args.items:,} REAL symbols per scan in sum reads of up to 500, scan every second; "
        f"file-writer North; server pid {server.pid}; load before: {uptime()}"
    )
    # Warm up: the first scan asks the PLC for every symbol's description.
    wait_for(
        lambda: south_metrics(engine, south["id"]).get("number_of_values_retrieved", 0) >= 2 * args.items,
        120,
        "warm-up",
    )

    window = measure_window(engine, south["id"], server.pid, args.seconds)
    wall, values, median_ms = window.wall, window.values, window.median_ms
    scans = values / args.items
    print(f"\n  window: {wall:.1f} s, {scans:.1f} scans, {values:,.0f} values handed over")
    rate = args.items / median_ms * 1000
    print(f"  per scan (median run {median_ms:.0f} ms, {window.samples} samples): {rate:,.0f} values/s")
    print(f"  sustained: {values / wall:,.0f} values/s (scan-limited: one scan a second)")
    print("\n".join(window.report_lines("ads", engine, south["id"], north["id"], output)))
    print(f"  load after: {uptime()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--log-level", default="warning")
    parser.add_argument("--tmp", default=None, help="folder for the temporary data (default: the system's)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _on_sigterm)
    fleet = Fleet()
    tmp = Path(tempfile.mkdtemp(prefix="oibus-bench-ads-", dir=args.tmp))
    try:
        run(args, fleet, tmp)
    finally:
        fleet.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
