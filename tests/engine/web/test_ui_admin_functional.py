"""The engine and administration pages in a real browser, against a real engine process.

Engine settings (field errors next to the field, what was typed kept), IP filters (add, edit, delete),
users, certificates, external sources, the scan-mode cron with its next five runs, the dashboard chart
drawn from the stored history, and the admin's own password change that ends the default-password banner.
"""

from __future__ import annotations

import re
from pathlib import Path

from engine_process import EngineProcess, running_engine, wait_for
from playwright.sync_api import Page, expect
from ui_browser import TIMEOUT_MS, chromium, login, screenshot_everywhere


def _engine_settings(page: Page, engine: EngineProcess) -> None:
    base = engine.url
    page.goto(f"{base}/engine")
    page.locator("#general-name").fill("Plant A")
    page.locator("#logger-console-level").select_option("debug")
    page.locator("#webServer-port").fill("70000")
    page.get_by_role("button", name="Save").click()
    error = page.locator('[data-field="webServer.port"] .field-error')
    expect(error).to_be_visible()
    expect(error).to_contain_text("<= 65535")
    expect(page.locator("#general-name")).to_have_value("Plant A")
    screenshot_everywhere(page, "engine-form-error")
    assert engine.ok("GET", "/api/engine")["general"]["name"] != "Plant A"
    page.locator("#webServer-port").fill(str(engine.port))
    page.locator("#logger-loki-password").fill("loki-typed-s3cret")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#engine-form .form-ok")).to_be_visible()
    expect(error).to_be_hidden()
    settings = engine.ok("GET", "/api/engine")
    assert (settings["general"]["name"], settings["logger"]["console"]["level"]) == ("Plant A", "debug")
    page.reload()
    expect(page.locator("#general-name")).to_have_value("Plant A")
    assert "loki-typed-s3cret" not in page.content()
    assert "loki-typed-s3cret" not in str(settings)
    # A new port is stored for the next start: the page says so rather than pretending it moved.
    page.locator("#webServer-port").fill(str(engine.port + 1))
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#engine-form .form-ok")).to_contain_text(
        f"next restart; then open the UI on port {engine.port + 1}"
    )
    assert engine.ok("GET", "/api/engine")["webServer"]["port"] == engine.port + 1
    page.locator("#webServer-port").fill(str(engine.port))
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#engine-form .form-ok")).to_have_text("Saved.")
    # Restart asks first; dismissed, nothing happens.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.locator("#engine-restart").click()
    expect(page.locator("#engine-restart-status")).to_have_text("")


def _ip_filters(page: Page, engine: EngineProcess) -> None:
    page.goto(f"{engine.url}/ip-filters")
    page.get_by_label("Address").fill("not an address!")
    page.get_by_role("button", name="Save").click()
    expect(page.locator('[data-field="address"] .field-error')).to_be_visible()
    page.get_by_label("Address").fill("10.1.2.*")
    page.get_by_label("Description").fill("line 2")
    page.get_by_role("button", name="Save").click()
    row = page.locator("#resource-table tbody tr", has_text="10.1.2.*")
    expect(row).to_contain_text("line 2")
    row.get_by_role("button", name="Edit").click()
    expect(page.get_by_label("Address")).to_have_value("10.1.2.*")
    page.get_by_label("Description").fill("line 3")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#resource-table tbody tr", has_text="10.1.2.*")).to_contain_text("line 3")
    assert [f["description"] for f in engine.ok("GET", "/api/ip-filters")] == ["line 3"]
    screenshot_everywhere(page, "ip-filters")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#resource-table tbody tr", has_text="10.1.2.*").get_by_role("button", name="Delete").click()
    expect(page.locator("#resource-table")).not_to_contain_text("10.1.2.*")
    assert engine.ok("GET", "/api/ip-filters") == []


def _users_certificates_sources(page: Page, engine: EngineProcess) -> None:
    base = engine.url
    page.goto(f"{base}/users")
    form = page.locator("#resource-form")
    form.get_by_label("Login").fill("operator")
    form.get_by_label("Email").fill("not-an-email")
    form.get_by_label("Password").fill("operator-pass-1")
    form.get_by_role("button", name="Save").click()
    expect(page.locator('#resource-form [data-field="email"] .field-error')).to_be_visible()
    form.get_by_label("Email").fill("op@example.com")
    form.get_by_role("button", name="Save").click()
    expect(page.locator("#resource-table")).to_contain_text("op@example.com")
    assert "operator-pass-1" not in page.content()
    screenshot_everywhere(page, "users")

    page.goto(f"{base}/certificates")
    page.locator("#name").fill("plant")
    page.get_by_role("button", name="Save").click()
    # Neither generated nor imported: the API says what it needs.
    expect(page.locator("#resource-form .form-error")).to_be_visible()
    page.get_by_label("Common name").fill("plant.example")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#resource-table")).to_contain_text("plant")
    assert engine.ok("GET", "/api/certificates")[0]["expiry"]
    screenshot_everywhere(page, "certificates")

    page.goto(f"{base}/external-sources")
    page.get_by_label("Reference").fill("remote-1")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#resource-table")).to_contain_text("remote-1")
    screenshot_everywhere(page, "external-sources")


def _scan_mode_and_dashboard(page: Page, engine: EngineProcess) -> None:
    base = engine.url
    page.goto(f"{base}/scan-modes")
    page.locator("#sm-cron").press_sequentially("0 */5 * * * *", delay=10)
    expect(page.locator("#sm-cron-next li")).to_have_count(5)
    expect(page.locator("#sm-cron-human")).to_have_text("every 5 minutes")
    page.locator("#sm-name").fill("Every 5 min")
    page.get_by_role("button", name="Save").click()
    row = page.locator("#scan-modes tbody tr", has_text="Every 5 min")
    expect(row).to_be_visible()
    # Edit it: the form takes its values, the cron is checked again, the change goes through PUT.
    row.get_by_role("button", name="Edit").click()
    expect(page.locator("#sm-cron")).to_have_value("0 */5 * * * *")
    expect(page.locator("#sm-cron-next li")).to_have_count(5)
    page.locator("#sm-name").fill("Every 30 s")
    page.locator("#sm-cron").fill("*/30 * * * * *")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#scan-modes")).to_contain_text("Every 30 s")
    names = {mode["name"]: mode["cron"] for mode in engine.ok("GET", "/api/scan-modes")}
    assert names["Every 30 s"] == "*/30 * * * * *" and "Every 5 min" not in names
    screenshot_everywhere(page, "scan-modes-edit")
    _interval_scan_mode(page, engine)
    # The chart is drawn from the stored hour first (one point every 10 s), then grows with the live stream.
    wait_for(lambda: bool(engine.ok("GET", "/api/engine/metrics/history")["times"]), 30, "a stored history point")
    stored = len(engine.ok("GET", "/api/engine/metrics/history")["times"])
    page.goto(f"{base}/")
    page.wait_for_function("document.querySelector('#chart canvas') !== null")
    expect(page.locator("#chart-status")).to_have_text(re.compile(r"^\d+ points$"))
    drawn = int(page.locator("#chart-status").inner_text().split()[0])
    assert drawn >= stored >= 1
    page.wait_for_function(
        "(n) => parseInt(document.querySelector('#chart-status').textContent, 10) > n", arg=drawn, timeout=TIMEOUT_MS
    )


def _interval_scan_mode(page: Page, engine: EngineProcess) -> None:
    """An interval with an activation window: a bad period is named at its field, then the mode is saved."""
    page.locator("#sm-name").fill("Half second")
    page.locator("#sm-type").select_option("interval")
    expect(page.locator("#sm-cron")).to_be_hidden()
    page.locator("#sm-interval-value").fill("10")
    page.locator("#sm-interval-unit").select_option("ms")
    page.locator("#sm-window").check()
    page.locator("#sm-timezone").fill("Europe/Paris")
    page.locator(".sm-day[value='1']").check()
    page.locator("#sm-tod-start").fill("08:00")
    page.locator("#sm-tod-end").fill("17:30")
    page.get_by_role("button", name="Save").click()
    expect(page.locator('[data-field="interval.value"] .field-error')).to_contain_text("at least 100 ms")
    page.locator("#sm-interval-value").fill("500")
    # The preview lists the next runs the scheduler would fire: every 500 ms, Mondays 08:00-17:30 Paris time.
    expect(page.locator("#sm-interval-human")).to_have_text(
        "every 500 milliseconds, while the activation window is open"
    )
    expect(page.locator("#sm-interval-next li")).to_have_count(5)
    page.get_by_role("button", name="Save").click()
    row = page.locator("#scan-modes tbody tr", has_text="Half second")
    expect(row).to_contain_text("500 ms")
    (mode,) = [mode for mode in engine.ok("GET", "/api/scan-modes") if mode["name"] == "Half second"]
    assert (mode["type"], mode["interval"]) == ("interval", {"value": 500, "unit": "ms"})
    assert mode["activationWindow"]["recurring"] == {
        "timezone": "Europe/Paris",
        "daysOfWeek": [1],
        "timeOfDay": {"start": "08:00", "end": "17:30"},
    }
    # Editing fills the form back from the stored mode.
    row.get_by_role("button", name="Edit").click()
    expect(page.locator("#sm-interval-value")).to_have_value("500")
    expect(page.locator("#sm-window")).to_be_checked()
    expect(page.locator(".sm-day[value='1']")).to_be_checked()
    page.get_by_role("button", name="Cancel").click()
    screenshot_everywhere(page, "scan-modes-interval")


def _password(page: Page, engine: EngineProcess) -> None:
    base = engine.url
    page.goto(f"{base}/")
    # The banner leads to the form that ends it.
    page.locator(".banner.warning").get_by_role("link", name="Change my password").click()
    page.wait_for_url(f"{base}/users#password-form")
    form = page.locator("#password-form")
    form.locator("#pw-current").fill("wrong")
    form.locator("#pw-new").fill("new-pass-123")
    form.locator("#pw-confirm").fill("new-pass-124")
    form.get_by_role("button", name="Change my password").click()
    expect(page.locator('[data-field="confirmPassword"] .field-error')).to_have_text("The two new passwords differ.")
    form.locator("#pw-confirm").fill("new-pass-123")
    form.get_by_role("button", name="Change my password").click()
    expect(page.locator('[data-field="currentPassword"] .field-error')).to_be_visible()
    form.locator("#pw-current").fill("pass")
    form.get_by_role("button", name="Change my password").click()
    # The session ended with the old password: log in with the new one; the banner is gone.
    page.wait_for_url(f"{base}/login")
    login(page, base, password="new-pass-123")
    expect(page.locator("main h1")).to_have_text("Home")
    expect(page.locator(".banner.warning")).to_have_count(0)


def test_engine_and_administration_pages(tmp_path: Path) -> None:
    with running_engine(tmp_path / "data") as engine, chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(TIMEOUT_MS)
        login(page, engine.url)
        _engine_settings(page, engine)
        _ip_filters(page, engine)
        _users_certificates_sources(page, engine)
        _scan_mode_and_dashboard(page, engine)
        _password(page, engine)
