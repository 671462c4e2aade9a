"""The history-query page in a real browser: the list, its status, start and the progress once it runs."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from engine_process import running_engine, wait_for
from history_support import history_body, sql_item
from playwright.sync_api import expect
from sql_servers import mariadb_database, mariadb_user
from ui_browser import TIMEOUT_MS, chromium, login, screenshot_everywhere

START, END = "2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z"


def test_history_queries_page_lists_starts_and_shows_progress(tmp_path: Path) -> None:
    source = tmp_path / "plant.db"
    with sqlite3.connect(source) as db:
        db.execute("CREATE TABLE data (ts TEXT PRIMARY KEY, value INTEGER)")
        db.executemany(
            "INSERT INTO data VALUES (?, ?)", [(f"2025-01-01T{hour:02d}:30:00.000Z", hour) for hour in range(24)]
        )
    output = tmp_path / "out"
    output.mkdir()
    with running_engine(tmp_path / "data") as engine, chromium() as browser:
        items = [sql_item("hours", field_type="iso-string")]
        body = history_body(
            "backfill sqlite", (START, END, 3600), ("sqlite", {"databasePath": str(source)}), output, items
        )
        query = engine.ok("POST", "/api/history-queries", body)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(TIMEOUT_MS)
        login(page, engine.url)
        page.get_by_role("link", name="History queries").click()
        row = page.locator(f'tr[data-id="{query["id"]}"]')
        expect(row).to_contain_text("backfill sqlite")
        expect(row.locator(".status")).to_have_text("pending")
        screenshot_everywhere(page, "history-queries")
        row.get_by_role("button", name="Start").click()
        expect(row.locator(".status")).to_have_text(re.compile("running|finished"))
        wait_for(
            lambda: engine.ok("GET", f"/api/history-queries/{query['id']}")["status"] == "FINISHED", 60, "FINISHED"
        )
        page.reload()
        expect(row.locator(".status")).to_have_text("finished")
        expect(row.get_by_role("button", name="Start")).to_be_visible()
        assert len(list(output.glob("*.csv"))) == 24


def test_an_errored_query_shows_its_reason(tmp_path: Path) -> None:
    output = tmp_path / "out"
    output.mkdir()
    with (
        mariadb_database() as database,
        mariadb_user(database, "i17-right-pass") as user,
        running_engine(tmp_path / "data") as engine,
        chromium() as browser,
    ):
        south = {"host": "127.0.0.1", "database": database, "username": user, "password": "i17-wrong-pass"}
        items = [sql_item("hours", field_type="date-time")]
        query = engine.ok(
            "POST", "/api/history-queries", history_body("refused", (START, END, 3600), ("mysql", south), output, items)
        )
        engine.ok("POST", f"/api/history-queries/{query['id']}/start")
        wait_for(lambda: engine.ok("GET", f"/api/history-queries/{query['id']}")["status"] == "ERRORED", 60, "ERRORED")
        reason = engine.ok("GET", f"/api/history-queries/{query['id']}")["error"]
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(TIMEOUT_MS)
        login(page, engine.url)
        page.get_by_role("link", name="History queries").click()
        row = page.locator(f'tr[data-id="{query["id"]}"]')
        expect(row.locator(".status")).to_have_text("errored")
        expect(row.locator(".history-error")).to_have_text(reason)
        assert "refused the login" in reason
