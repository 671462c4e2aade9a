"""Acceptance in a real browser: log in, build folder-scanner → file-writer through the UI, watch files flow.

A real engine process serves the UI; Debian's Chromium drives it through Playwright. Every page visited
is screenshotted at 1280x800 and 390x844 under ``test-artifacts/ui/``.
"""

from __future__ import annotations

import re
from pathlib import Path

from engine_process import running_engine, wait_for
from playwright.sync_api import Page, expect
from ui_browser import TIMEOUT_MS, chromium, login, screenshot_everywhere

FILES = 3


def _create_folder_scanner(page: Page, base: str, input_dir: Path) -> None:
    page.goto(f"{base}/south/new")
    screenshot_everywhere(page, "south-types")
    page.locator('a[data-type="folder-scanner"]').click()
    expect(page.locator(".type-description")).to_contain_text("folder")
    page.locator("#name").fill("scanner")
    page.locator("#settings-inputFolder").fill(str(input_dir))
    page.locator("#item-name").fill("all files")
    page.locator("#item-scan-mode").select_option(label="Every second")
    page.locator("#items-0-settings-regex").fill(".*")
    page.locator("#items-0-settings-minAge").fill("0")
    page.locator("#items-0-settings-preserveFiles").uncheck()
    screenshot_everywhere(page, "south-form")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(f"{base}/south")
    expect(page.locator("table.list")).to_contain_text("scanner")
    screenshot_everywhere(page, "south-list")


def _create_file_writer(page: Page, base: str, output_dir: Path) -> None:
    page.goto(f"{base}/north/new/file-writer")
    page.locator("#name").fill("writer")
    # A bad value first: the API's field error shows next to the field and what was typed stays.
    page.locator("#settings-outputFolder").fill("")
    page.get_by_role("button", name="Save").click()
    error = page.locator('[data-field="settings.outputFolder"] .field-error')
    expect(error).to_be_visible()
    expect(page.locator("#name")).to_have_value("writer")
    screenshot_everywhere(page, "north-form-error")
    page.locator("#settings-outputFolder").fill(str(output_dir))
    page.locator("#settings-password").fill("s3cret-typed-in-ui")
    page.locator("#caching-scan-mode").select_option(label="Every second")
    page.locator("#caching-archive").check()
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(f"{base}/north")
    expect(page.locator("table.list")).to_contain_text("writer")
    screenshot_everywhere(page, "north-list")


def test_folder_scanner_to_file_writer_through_the_ui(tmp_path: Path) -> None:
    input_dir, output_dir = tmp_path / "in", tmp_path / "out"
    input_dir.mkdir()
    output_dir.mkdir()
    with running_engine(tmp_path / "data") as engine, chromium() as browser:
        base = engine.url
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(f"{base}/")
        page.wait_for_url(re.compile(r"/login\?next="))
        screenshot_everywhere(page, "login")
        login(page, base)
        expect(page.locator(".banner.warning")).to_be_visible()
        _create_folder_scanner(page, base, input_dir)
        _create_file_writer(page, base, output_dir)

        for index in range(FILES):
            (input_dir / f"file-{index}.csv").write_text(f"a,b\n{index},{index}\n")
        wait_for(lambda: len(list(output_dir.iterdir())) >= FILES, 30, "files written by the North")

        # The dashboard counts them (live over /sse/home).
        page.goto(f"{base}/")
        expect(page.locator('table[data-kind="south"] .files-total')).to_have_text(str(FILES), timeout=TIMEOUT_MS)
        expect(page.locator("#engine-version")).not_to_be_empty()
        page.wait_for_function("document.querySelector('#chart canvas') !== null")
        # More files while the page is open: the live rates and the chart follow them.
        page.wait_for_function("parseInt(document.querySelector('#chart-status').textContent, 10) >= 2")
        for index in range(FILES, 2 * FILES):
            (input_dir / f"file-{index}.csv").write_text(f"a,b\n{index},{index}\n")
        expect(page.locator('table[data-kind="south"] .files-total')).to_have_text(str(2 * FILES))
        page.wait_for_function("parseInt(document.querySelector('#chart-status').textContent, 10) >= 6")
        screenshot_everywhere(page, "home")

        # The North's cache explorer lists them among the sent (archived) entries; one can be read.
        page.goto(f"{base}/north")
        page.get_by_role("link", name="Cache explorer").click()
        archive = page.locator('table[data-folder="archive"] tbody tr')
        expect(archive).to_have_count(2 * FILES)
        archive.first.get_by_role("button", name="View").click()
        expect(page.locator("#cache-content")).to_contain_text("a,b")
        screenshot_everywhere(page, "north-cache")

        # The logs page shows what happened.
        page.goto(f"{base}/logs")
        expect(page.locator("#log-table tbody tr").first).to_be_visible()
        page.locator("#log-text").fill("scanner")
        page.get_by_role("button", name="Search").click()
        expect(page.locator("#log-status")).to_have_text(re.compile(r"\d+ logs"))
        screenshot_everywhere(page, "logs")

        page.goto(f"{base}/engine")
        expect(page.locator("main h1")).to_have_text("Engine")
        screenshot_everywhere(page, "engine")

        # The secret typed into the North form never comes back: page source, DOM, API.
        north_id = engine.ok("GET", "/api/north")[0]["id"]
        page.goto(f"{base}/north/{north_id}/duplicate")
        assert "s3cret-typed-in-ui" not in page.content()
        assert page.locator("#settings-password").input_value() == ""
        assert "s3cret-typed-in-ui" not in str(engine.ok("GET", f"/api/north/{north_id}"))

        # A scan mode: the cron is checked as it is typed, with its next five executions.
        page.goto(f"{base}/scan-modes")
        page.locator("#sm-name").fill("Every 10 s")
        page.locator("#sm-cron").press_sequentially("*/10 * * * *", delay=10)
        expect(page.locator('[data-field="cron"] .field-error')).to_be_visible()
        page.locator("#sm-cron").press_sequentially(" *", delay=10)
        # As many as the API gives (upstream gives three).
        expect(page.locator("#sm-cron-next li").first).to_be_visible()
        expect(page.locator('[data-field="cron"] .field-error')).to_be_hidden()
        screenshot_everywhere(page, "scan-modes")
        page.get_by_role("button", name="Save").click()
        # The exact cell: the default "Every 10 seconds" contains "Every 10 s", and matching it let the test
        # go on before the save's reload, which then cut off the next navigation (net::ERR_ABORTED).
        expect(page.locator("#scan-modes").get_by_role("cell", name="Every 10 s", exact=True)).to_be_visible()
        page.wait_for_load_state()

        # Stop and start the South from its list.
        page.goto(f"{base}/south")
        page.get_by_role("button", name="Stop").click()
        expect(page.locator("table.list td.state")).to_have_text("STOPPED")
        assert engine.ok("GET", "/api/south")[0]["enabled"] is False
        page.get_by_role("button", name="Start").click()
        expect(page.locator("table.list td.state")).not_to_have_text("STOPPED")

        # French for the login page and the home page.
        page.goto(f"{base}/language/fr?next=/")
        expect(page.locator("main h1")).to_have_text("Accueil")
        screenshot_everywhere(page, "home-fr")

        page.locator("header .logout button").click()
        page.wait_for_url(f"{base}/login")
        page.goto(f"{base}/south")
        page.wait_for_url(re.compile(r"/login\?next="))
