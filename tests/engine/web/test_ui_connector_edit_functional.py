"""Edit a South and a North in a real browser: prefilled forms, secrets kept, field errors, test connection.

Secrets are never shown and are kept when left empty; a field error shows next to its field without losing
what was typed; "Test connection" shows its progress and a clear outcome.
"""

from __future__ import annotations

from pathlib import Path

from engine_process import folder_scanner_body, north_body, running_engine, scan_mode_id
from playwright.sync_api import expect
from ui_browser import TIMEOUT_MS, chromium, login, screenshot_everywhere

from engine.config import ConfigStore

SECRET = "edit-secret-7f3a91"


def test_edit_south_and_north_then_test_connection(tmp_path: Path) -> None:
    input_dir, output_dir = tmp_path / "in", tmp_path / "out"
    input_dir.mkdir()
    output_dir.mkdir()
    data_dir = tmp_path / "data"
    with running_engine(data_dir) as engine, chromium() as browser:
        hourly = scan_mode_id(engine, "Every hour")
        south_id = engine.ok("POST", "/api/south", folder_scanner_body(input_dir, hourly))["id"]
        body = north_body("writer", "file-writer", {"outputFolder": str(output_dir), "password": SECRET}, hourly)
        body["caching"]["error"]["retryCount"] = 7
        north_id = engine.ok("POST", "/api/north", body)["id"]
        engine.wait_state("south", south_id, "RUNNING")
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(TIMEOUT_MS)
        login(page, engine.url)

        # The North: reached from its list, prefilled, its secret never filled back.
        page.goto(f"{engine.url}/north")
        page.get_by_role("link", name="Edit").click()
        page.wait_for_url(f"{engine.url}/north/{north_id}/edit")
        expect(page.locator("#name")).to_have_value("writer")
        expect(page.locator("#settings-outputFolder")).to_have_value(str(output_dir))
        expect(page.locator("#caching-scan-mode")).to_have_value(hourly)
        expect(page.locator("#settings-password")).to_have_value("")
        assert SECRET not in page.content()
        # A bad value: the error sits next to its field and everything typed stays.
        page.locator("#name").fill("writer 2")
        page.locator("#settings-prefix").fill("typed-prefix-")
        page.locator("#settings-outputFolder").fill("")
        page.get_by_role("button", name="Save").click()
        expect(page.locator('[data-field="settings.outputFolder"] .field-error')).to_be_visible()
        expect(page.locator("#name")).to_have_value("writer 2")
        expect(page.locator("#settings-prefix")).to_have_value("typed-prefix-")
        screenshot_everywhere(page, "north-edit-error")
        page.locator("#settings-outputFolder").fill(str(output_dir))
        page.locator("#caching-archive").check()
        page.get_by_role("button", name="Save").click()
        page.wait_for_url(f"{engine.url}/north")
        saved = engine.ok("GET", f"/api/north/{north_id}")
        assert saved["name"] == "writer 2" and saved["settings"]["prefix"] == "typed-prefix-"
        # The form changed the archive switch and kept the caching it does not show.
        assert saved["caching"]["archive"]["enabled"] is True
        assert saved["caching"]["error"]["retryCount"] == 7

        # The South: test the connection with the stored settings, then with a folder that is not there.
        page.goto(f"{engine.url}/south/{south_id}/edit")
        expect(page.locator("#settings-inputFolder")).to_have_value(str(input_dir))
        expect(page.locator("#item-name")).to_have_count(0)  # items are edited on the items page
        page.get_by_role("button", name="Test connection").click()
        expect(page.locator("#test-outcome")).to_have_text("Connection OK.")
        expect(page.locator("#test-outcome")).to_have_class("ok")
        page.locator("#settings-inputFolder").fill(str(tmp_path / "missing"))
        page.get_by_role("button", name="Test connection").click()
        expect(page.locator("#test-outcome")).to_contain_text("does not exist")
        expect(page.locator("#test-outcome")).to_have_class("error")
        screenshot_everywhere(page, "south-edit-test")
        # Testing stored nothing.
        assert engine.ok("GET", f"/api/south/{south_id}")["settings"]["inputFolder"] == str(input_dir)
        page.locator("#description").fill("edited in the UI")
        page.locator("#settings-inputFolder").fill(str(input_dir))
        page.get_by_role("button", name="Save").click()
        page.wait_for_url(f"{engine.url}/south")
        south = engine.ok("GET", f"/api/south/{south_id}")
        assert south["description"] == "edited in the UI"
        assert [item["name"] for item in south["items"]] == ["all files"]  # the items stay
    # The North's secret, left empty in the edit, is still the stored one.
    with ConfigStore.open(data_dir, init=None) as store:
        assert store.norths.get_north(north_id).settings["password"] == SECRET
