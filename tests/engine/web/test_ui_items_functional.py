"""The items page in a real browser: 10,000 items, search narrowing as one types, paging, sort, enable/disable."""

from __future__ import annotations

from pathlib import Path

from engine_process import folder_scanner_body, running_engine, scan_mode_id
from playwright.sync_api import expect
from ui_browser import TIMEOUT_MS, chromium, login, screenshot_everywhere

ITEMS = 10_000


def test_items_table_searches_and_pages_on_the_server(tmp_path: Path) -> None:
    with running_engine(tmp_path / "data") as engine, chromium() as browser:
        mode = scan_mode_id(engine, "Every second")
        body = folder_scanner_body(tmp_path / "in", mode, name="big")
        template = body["items"][0]
        body["enabled"] = False
        body["items"] = [{**template, "name": f"item-{i:05d}"} for i in range(ITEMS)]
        south_id = engine.ok("POST", "/api/south", body)["id"]
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(TIMEOUT_MS)
        login(page, engine.url)
        page.goto(f"{engine.url}/south/{south_id}/items")
        expect(page.locator("#items-count")).to_have_text(f"{ITEMS} items")
        expect(page.locator("#items-table tbody tr")).to_have_count(50)
        expect(page.locator("#items-page")).to_have_text("1 / 200")
        screenshot_everywhere(page, "items")
        page.get_by_role("link", name="Next").click()
        expect(page.locator("#items-page")).to_have_text("2 / 200")
        expect(page.locator("#items-table tbody tr").first).to_contain_text("item-00050")
        # Sorting is done by the server over all 10,000, and the pager keeps it.
        page.locator('a.sort[data-sort="name"]').click()
        expect(page.locator("#items-table tbody tr").first).to_contain_text("item-09999")
        expect(page.locator("#items-page")).to_have_text("1 / 200")
        page.get_by_role("link", name="Next").click()
        expect(page.locator("#items-table tbody tr").first).to_contain_text("item-09949")
        page.locator('a.sort[data-sort="name"]').click()
        expect(page.locator("#items-table tbody tr").first).to_contain_text("item-00000")
        # Typing narrows the table without a page load (htmx swaps the rows).
        page.locator("#item-search").press_sequentially("item-0999", delay=20)
        expect(page.locator("#items-count")).to_have_text("10 items")
        expect(page.locator("#items-table tbody tr")).to_have_count(10)
        page.locator("#item-search").fill("item-09995")
        expect(page.locator("#items-count")).to_have_text("1 items")
        page.get_by_role("button", name="Disable").click()
        expect(page.get_by_role("button", name="Enable")).to_be_visible()
        item = engine.ok("GET", f"/api/south/{south_id}/items/search?name=item-09995")["content"][0]
        assert item["enabled"] is False
