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
from typing import Any

import structlog
from aiohttp.test_utils import TestClient, TestServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.api import EngineInfo, create_app
from engine.config import ConfigStore
from engine.runtime import IngestResult

ITEMS = 10_000
RUNS = 5
AUTH = {"Authorization": "Basic " + base64.b64encode(b"admin:pass").decode()}


class _Runtime:
    async def reconcile_south(self, south_id: str) -> None:
        pass

    async def reconcile_north(self, north_id: str) -> None:
        pass

    async def reload_scan_modes(self) -> None:
        pass

    def connector_state(self, kind: str, connector_id: str) -> dict[str, Any]:
        return {"state": "STOPPED"}

    async def ingest_values(self, *args: Any, **kwargs: Any) -> IngestResult:
        return IngestResult(stored=(), refused={})

    async def ingest_file(self, *args: Any, **kwargs: Any) -> IngestResult:
        return IngestResult(stored=(), refused={})

    async def ingest_content(self, *args: Any, **kwargs: Any) -> IngestResult:
        return IngestResult(stored=(), refused={})


async def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    timings: list[float] = []
    with tempfile.TemporaryDirectory() as folder, ConfigStore.open(Path(folder), init=None) as store:
        mode = store.list_scan_modes()[0].id
        app = create_app(store, _Runtime(), EngineInfo(data_directory=Path(folder)))
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
