"""Time ``POST /api/south`` with 10,000 folder-scanner items through the real API on loopback."""

from __future__ import annotations

import asyncio
import base64
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import structlog
from aiohttp.test_utils import TestClient, TestServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from config_fakes import RecordingRuntime

from engine.api import EngineInfo, create_app
from engine.config import ConfigStore

ITEMS = 10_000
RUNS = 5
AUTH = {"Authorization": "Basic " + base64.b64encode(b"admin:pass").decode()}


async def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    timings: list[float] = []
    with tempfile.TemporaryDirectory() as folder, ConfigStore.open(Path(folder), init=None) as store:
        mode = store.scan_modes.list_scan_modes()[0].id
        app = create_app(store, RecordingRuntime(), EngineInfo(data_directory=Path(folder)))
        async with TestClient(TestServer(app)) as client:
            for run in range(RUNS):
                body = {
                    "name": f"bench-{run}",
                    "type": "folder-scanner",
                    "settings": {"inputFolder": "./input"},
                    "items": [
                        {"name": f"item-{i}", "settings": {"regex": rf"^file-{i}\.csv$"}, "scanModeId": mode}
                        for i in range(ITEMS)
                    ],
                }
                started = time.perf_counter()
                response = await client.post("/api/south", json=body, headers=AUTH)
                await response.read()
                timings.append(time.perf_counter() - started)
                assert response.status == 201, await response.text()
    print(
        f"POST /api/south with {ITEMS} items, {RUNS} runs (request to full 201 body read): "
        f"median {statistics.median(timings):.3f} s, min {min(timings):.3f} s, max {max(timings):.3f} s"
    )


if __name__ == "__main__":
    asyncio.run(main())
