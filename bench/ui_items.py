"""Time the web UI's items page of a South with 10,000 items: the first page, a search, a sort, through a session."""

from __future__ import annotations

import asyncio
import logging
import re
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
from engine.web import setup as setup_web

ITEMS = 10_000
RUNS = 5


async def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    first: list[float] = []
    search: list[float] = []
    by_group: list[float] = []
    with tempfile.TemporaryDirectory() as folder, ConfigStore.open(Path(folder), init=None) as store:
        mode = store.scan_modes.list_scan_modes()[0].id
        south = store.souths.create_south(
            {
                "name": "bench",
                "type": "folder-scanner",
                "settings": {"inputFolder": "./input"},
                "items": [
                    {"name": f"item-{i:05d}", "settings": {"regex": rf"^file-{i}\.csv$"}, "scanModeId": mode}
                    for i in range(ITEMS)
                ],
            }
        )
        app = create_app(store, RecordingRuntime(), EngineInfo(data_directory=Path(folder)), ui=setup_web)
        async with TestClient(TestServer(app)) as client:
            form = await (await client.get("/login")).text()
            found = re.search(r'name="csrf" value="([^"]*)"', form)
            assert found is not None
            login = await client.post("/login", data={"login": "admin", "password": "pass", "csrf": found.group(1)})
            assert login.status == 200, await login.text()
            for _ in range(RUNS):
                started = time.perf_counter()
                response = await client.get(f"/south/{south.id}/items")
                html = await response.text()
                first.append(time.perf_counter() - started)
                assert response.status == 200 and f"{ITEMS} items" in html, html[:500]
                started = time.perf_counter()
                response = await client.get(f"/south/{south.id}/items/rows", params={"name": "item-0999"})
                html = await response.text()
                search.append(time.perf_counter() - started)
                assert "10 items" in html, html[:500]
                # The slowest sort: by group name, a lookup per item, over all 10,000 before the first 50.
                started = time.perf_counter()
                response = await client.get(f"/south/{south.id}/items", params={"sort": "group", "order": "desc"})
                html = await response.text()
                by_group.append(time.perf_counter() - started)
                assert response.status == 200 and f"{ITEMS} items" in html, html[:500]
    print(
        f"GET /south/{{id}}/items with {ITEMS} items, first page of 50, {RUNS} runs: "
        f"median {statistics.median(first) * 1000:.1f} ms, max {max(first) * 1000:.1f} ms; "
        f"search rows (htmx): median {statistics.median(search) * 1000:.1f} ms, max {max(search) * 1000:.1f} ms; "
        f"first page sorted by group: median {statistics.median(by_group) * 1000:.1f} ms, "
        f"max {max(by_group) * 1000:.1f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
