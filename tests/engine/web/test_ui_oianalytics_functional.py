"""The OIAnalytics page in a real browser against the fake OIAnalytics: code shown = code received, then REGISTERED."""

from __future__ import annotations

from pathlib import Path

from engine_process import EngineProcess
from playwright.sync_api import expect
from servers.oianalytics import FakeOIAnalytics
from ui_browser import TIMEOUT_MS, chromium, login, screenshot_everywhere

PROXY_SECRET = "proxy-pw-typed-9d1e"
# The engine checks a PENDING registration this often (as the OIAnalytics tests do).
FAST_CHECK = {"OIBUS_OIA_CHECK_INTERVAL_S": "0.2"}


def test_register_from_the_page(tmp_path: Path) -> None:
    with FakeOIAnalytics() as fake, chromium() as browser:
        engine = EngineProcess(tmp_path / "data", env=FAST_CHECK).start()
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.set_default_timeout(TIMEOUT_MS)
            login(page, engine.url)
            page.get_by_role("link", name="OIAnalytics").click()
            expect(page.locator("#oia-status")).to_have_text("NOT_REGISTERED")
            # A bad host first: the field is named next to it.
            page.locator("#host").fill("not a url")
            page.get_by_role("button", name="Register", exact=True).click()
            expect(page.locator('[data-field="host"] .field-error')).to_be_visible()
            screenshot_everywhere(page, "oianalytics-error")
            page.locator("#host").fill(fake.url)
            page.locator("#commandRefreshInterval").fill("1")
            page.locator("#proxyPassword").fill(PROXY_SECRET)
            page.get_by_role("button", name="Register", exact=True).click()
            expect(page.locator("#oia-status")).to_have_text("PENDING")
            code = fake.activation_code
            assert code is not None and len(code) == 6
            expect(page.locator("#oia-code")).to_have_text(code)
            screenshot_everywhere(page, "oianalytics-pending")
            fake.accepted = True
            expect(page.locator("#oia-status")).to_have_text("REGISTERED", timeout=30_000)
            expect(page.locator("#oia-code")).to_have_text("\u2013")  # the page shows a dash: no code once registered
            screenshot_everywhere(page, "oianalytics")
            # The proxy password typed in is nowhere in the page or the API's answer.
            assert PROXY_SECRET not in page.content()
            assert PROXY_SECRET not in str(engine.ok("GET", "/api/oianalytics/registration"))
        finally:
            assert engine.stop() == 0, engine.log()
