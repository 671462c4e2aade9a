"""Headless Debian Chromium for the UI tests (Playwright's own browser download is not available here)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "ui"
VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}
# Every wait of a browser test is bounded: a stuck page fails the test instead of hanging the suite.
TIMEOUT_MS = 20_000


def require_chromium() -> None:
    """Skip (or fail under OIBUS_REQUIRE_SERVICES=1) when Debian's Chromium is not installed."""
    if shutil.which(CHROMIUM) is None:
        reason = f"{CHROMIUM} is missing: apt-get install -y chromium"
        if os.environ.get("OIBUS_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium, closed (with its processes) at the end."""
    require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, timeout=TIMEOUT_MS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot_everywhere(page: Page, name: str) -> None:
    """Save the current page at 1280x800 and 390x844 under ``test-artifacts/ui/`` (then back to desktop)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for label, (width, height) in VIEWPORTS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})


def login(page: Page, base_url: str, password: str = "pass") -> None:
    """Open the UI, which sends the browser to the login page, and log in as admin."""
    page.goto(f"{base_url}/")
    page.wait_for_url(re.compile(r"/login\?next="))
    page.get_by_label("Login").fill("admin")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}/")
