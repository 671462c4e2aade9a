"""Browsing a 100,000-node OPC UA server through the REST API; prints answer times and the engine's memory.

    .venv/bin/python bench/opcua_browse.py                       # 100 folders x 1000 variables
    .venv/bin/python bench/opcua_browse.py --folders 1 --per-folder 100000   # one flat folder of 100k

An in-process asyncua server (``tests/servers/opcua.py``, ``generate_tree``) serves ``Objects/Tree`` with the
generated nodes; a real engine (``python -m engine``) runs an OPC UA South on it, whose worker browses. Figures:

  first level  time of ``GET /api/south/{id}/browse`` (the Objects folder), then of the Tree folder and of
               the first page of a generated folder (page size 100)
  walk         every page of one generated folder, and the first page of every folder
  memory       the engine's USS and RSS (psutil) before the first browse and after the walk: browsing must
               not grow the engine (the worker holds the session; the engine relays pages)

Stops every process it started; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from engine_process import EngineProcess, opcua_south_body  # noqa: E402
from servers.opcua import OpcuaTestServer  # noqa: E402

MIB = 1024 * 1024


def memory(engine: EngineProcess) -> tuple[float, float]:
    """USS and RSS of the engine process alone, in MiB."""
    assert engine.proc is not None
    info = psutil.Process(engine.proc.pid).memory_full_info()
    return info.uss / MIB, info.rss / MIB


def timed_browse(engine: EngineProcess, south_id: str, **query: Any) -> tuple[float, dict[str, Any]]:
    """Seconds one browse call took, and its page."""
    started = time.perf_counter()
    status, page = engine.request("GET", f"/api/south/{south_id}/browse?{urllib.parse.urlencode(query)}")
    elapsed = time.perf_counter() - started
    if status != 200:
        raise RuntimeError(f"browse answered {status}: {page}")
    return elapsed, page


def run_walk(engine: EngineProcess, url: str, folders: int, per_folder: int) -> None:
    """Create the South, then time and measure the browsing."""
    south = engine.ok("POST", "/api/south", opcua_south_body("plant", url, read_timeout_ms=60000))
    engine.wait_state("south", south["id"], "RUNNING")
    time.sleep(2.0)  # let the engine settle after the worker's start before the first sample
    uss_before, rss_before = memory(engine)
    first_level, objects = timed_browse(engine, south["id"])
    tree_s, tree = timed_browse(engine, south["id"], node="ns=2;s=Tree", pageSize=1000)
    folder_s, first_page = timed_browse(engine, south["id"], node="ns=2;s=Tree.F0", pageSize=100)
    print(f"first level (Objects, {len(objects['children'])} children): {first_level * 1000:.0f} ms")
    print(f"Tree folder ({len(tree['children'])} children, page 1000): {tree_s * 1000:.0f} ms")
    print(f"first page of Tree.F0 ({len(first_page['children'])} of {per_folder}): {folder_s * 1000:.0f} ms")
    pages, slowest, cursor, started = 0, 0.0, "", time.perf_counter()
    while True:
        elapsed, page = timed_browse(engine, south["id"], node="ns=2;s=Tree.F0", pageSize=100, cursor=cursor)
        pages, slowest = pages + 1, max(slowest, elapsed)
        if page["cursor"] is None:
            break
        cursor = page["cursor"]
    walk_s = time.perf_counter() - started
    print(f"walk of Tree.F0: {pages} pages in {walk_s:.1f} s (slowest page {slowest * 1000:.0f} ms)")
    started = time.perf_counter()
    for f in range(folders):
        timed_browse(engine, south["id"], node=f"ns=2;s=Tree.F{f}", pageSize=100)
    print(f"first page of each of {folders} folders: {time.perf_counter() - started:.1f} s")
    uss_after, rss_after = memory(engine)
    print(
        f"engine memory: USS {uss_before:.1f} -> {uss_after:.1f} MiB ({uss_after - uss_before:+.1f}), "
        f"RSS {rss_before:.1f} -> {rss_after:.1f} MiB ({rss_after - rss_before:+.1f})"
    )


async def main_async(folders: int, per_folder: int) -> None:
    """Generate the server, start the engine, browse."""
    started = time.perf_counter()
    async with OpcuaTestServer(tree=(folders, per_folder)) as server:
        print(f"server: {folders * per_folder + folders + 1} generated nodes in {time.perf_counter() - started:.0f} s")
        with tempfile.TemporaryDirectory(prefix="oibus-bench-") as tmp:
            engine = EngineProcess(Path(tmp) / "data")
            await asyncio.to_thread(engine.start)
            try:
                await asyncio.to_thread(run_walk, engine, server.url, folders, per_folder)
            finally:
                await asyncio.to_thread(engine.stop)


def main() -> None:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folders", type=int, default=100)
    parser.add_argument("--per-folder", type=int, default=1000)
    options = parser.parse_args()
    asyncio.run(main_async(options.folders, options.per_folder))


if __name__ == "__main__":
    main()
