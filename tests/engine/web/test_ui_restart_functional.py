"""Restart from the engine page, under a real launcher: confirmation, progress, then the engine's return."""

from __future__ import annotations

import json
from pathlib import Path

from launcher_process import LauncherRun, children, engine_api, wait_until
from playwright.sync_api import expect
from ui_browser import TIMEOUT_MS, chromium, login


def test_restart_asks_shows_progress_and_says_when_the_engine_is_back(
    tmp_path: Path, launchers: list[LauncherRun]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "oibus.init.json").write_text(json.dumps({"port": 0}))
    run = LauncherRun(tmp_path, "--config", str(data), "--stable-after", "1", "--backoff-initial", "0.1")
    launchers.append(run)
    api = engine_api(data, run.log)
    (first,) = children(run.proc)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(TIMEOUT_MS)
        login(page, api.url)
        page.goto(f"{api.url}/engine")
        page.once("dialog", lambda dialog: dialog.accept())
        page.locator("#engine-restart").click()
        status = page.locator("#engine-restart-status")
        expect(status).to_have_text("Restarting…")
        expect(status).to_have_text("The engine restarted.", timeout=60_000)
        expect(page.locator("#engine-restart")).to_be_enabled()
    wait_until(lambda: [child.pid for child in children(run.proc)] not in ([], [first.pid]), "a new engine process")
    assert run.terminate() == 0
