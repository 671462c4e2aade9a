"""The explore page in a real browser: walk a generated OPC UA address space lazily, add variables as items.

The asyncua server runs on its own event loop in a thread (Playwright's sync API owns this one). Opening a
folder asks for one page of its children; ``More`` follows the cursor; the checked variables become items.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine_process import EngineProcess, opcua_south_body, running_engine, scan_mode_id
from playwright.sync_api import Page, expect
from pyads import constants
from pyads.testserver import PLCVariable
from servers.ads import ads_server
from servers.opcua import OpcuaTestServer
from ui_browser import TIMEOUT_MS, chromium, login, screenshot_everywhere


@contextmanager
def server_in_thread(tree: tuple[int, int]) -> Iterator[str]:
    """An OPC UA test server with a generated tree, on a loop of its own; yields its URL."""
    ready, stop = threading.Event(), threading.Event()
    url: list[str] = []

    async def serve() -> None:
        async with OpcuaTestServer(tree=tree) as server:
            url.append(server.url)
            ready.set()
            while not stop.is_set():  # noqa: ASYNC110 (the stop comes from another thread)
                await asyncio.sleep(0.05)

    thread = threading.Thread(target=asyncio.run, args=(serve(),), name="opcua-server")
    thread.start()
    try:
        assert ready.wait(60), "the OPC UA server did not start"
        yield url[0]
    finally:
        stop.set()
        thread.join(30)


def _explore(page: Page, engine: EngineProcess, south_id: str) -> None:
    base = engine.url
    page.goto(f"{base}/south/{south_id}/items")
    page.get_by_role("link", name="Explore").click()
    page.wait_for_url(f"{base}/south/{south_id}/browse")
    page.get_by_role("button", name="Open Tree").click()
    page.get_by_role("button", name="Open F1").click()
    folder = page.locator('li[data-node="ns=2;s=Tree.F1"] > ul')
    expect(folder.locator(".browse-pick")).to_have_count(100)  # one page, not the folder's 150
    folder.get_by_role("button", name="More").click()
    expect(folder.locator(".browse-pick")).to_have_count(150)
    expect(folder.get_by_role("button", name="More")).to_have_count(0)
    page.get_by_label("V7 (ns=2;s=Tree.F1.V7)").check()
    page.get_by_label("V149 (ns=2;s=Tree.F1.V149)").check()
    page.locator("#browse-scan-mode").select_option(label="Every second")
    page.get_by_role("button", name="Add checked variables as items").click()
    expect(page.locator("#browse-outcome")).to_have_text("2 items added")
    screenshot_everywhere(page, "south-browse")
    items = {item["name"]: item for item in engine.ok("GET", f"/api/south/{south_id}/items/list")}
    assert {name: item["settings"]["nodeId"] for name, item in items.items()} == {
        "V7": "ns=2;s=Tree.F1.V7",
        "V149": "ns=2;s=Tree.F1.V149",
    }
    assert {item["scanMode"]["id"] for item in items.values()} == {scan_mode_id(engine, "Every second")}


def test_explore_a_generated_address_space_and_add_items(tmp_path: Path) -> None:
    with server_in_thread((2, 150)) as url, running_engine(tmp_path / "data") as engine, chromium() as browser:
        south = engine.ok("POST", "/api/south", opcua_south_body("plant", url))
        engine.wait_state("south", south["id"], "RUNNING")
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(TIMEOUT_MS)
        login(page, engine.url)
        _explore(page, engine, south["id"])


def test_explore_an_ads_plc_and_add_its_symbols_as_items(tmp_path: Path) -> None:
    symbols = [PLCVariable(name, 1, constants.ADST_INT16, "INT") for name in ("MAIN.counter", "MAIN.level", "GVL.x")]
    with ads_server(symbols) as (_server, port), running_engine(tmp_path / "data") as engine, chromium() as browser:
        settings = {"netId": "127.0.0.1.1.1", "routerAddress": "127.0.0.1", "routerTcpPort": port}
        body = {"name": "plc", "type": "ads", "description": "", "enabled": True, "settings": settings, "items": []}
        south = engine.ok("POST", "/api/south", {**body, "groups": []})
        engine.wait_state("south", south["id"], "RUNNING")
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(TIMEOUT_MS)
        login(page, engine.url)
        page.goto(f"{engine.url}/south/{south['id']}/browse")
        page.get_by_role("button", name="Open MAIN").click()
        page.get_by_label("counter (MAIN.counter)").check()
        page.locator("#browse-scan-mode").select_option(label="Every second")
        page.get_by_role("button", name="Add checked variables as items").click()
        expect(page.locator("#browse-outcome")).to_have_text("1 items added")
        items = engine.ok("GET", f"/api/south/{south['id']}/items/list")
    # A symbol's name is the item's address (an OPC UA node would be its nodeId).
    assert [(item["name"], item["settings"]) for item in items] == [("counter", {"address": "MAIN.counter"})]
