"""Every page of the UI in a real browser: screenshots at 1280x800 and 390x844, labels, keyboard, phone width.

The walk starts at the home page and follows every link of this site it finds (navigation bar, lists,
connector pages), so a page added later is walked without changing this test. On each page:

- a screenshot at both viewports under ``test-artifacts/ui/`` (acceptance 5);
- every input, select and text area has a label (a ``<label>``, ``aria-label`` or ``aria-labelledby``),
  every button a name;
- the default-password banner is there (the admin password is still ``pass``);
- at 390x844 the page itself never scrolls sideways (wide tables scroll inside their own box);
- the keyboard reaches every visible link, button and field with Tab, starting with "Skip to content".
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from engine_process import folder_scanner_body, north_body, running_engine, scan_mode_id
from playwright.sync_api import Page
from ui_browser import ARTIFACTS, TIMEOUT_MS, chromium, login, screenshot_everywhere

# Links that are not pages: the language switch and logout change state, exports and the API answer data.
NOT_PAGES = re.compile(r"^/(language|logout|api|static|sse)(/|$)")
MAX_PAGES = 80
MAX_TAB_STOPS = 250
UNLABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
  .filter((el) => !(el.labels && [...el.labels].some((l) => l.textContent.trim()))
    && !(el.getAttribute('aria-label') || '').trim()
    && !(el.getAttribute('aria-labelledby') || '').split(' ').some((id) => id && document.getElementById(id)))
  .map((el) => el.outerHTML.slice(0, 120))"""
NAMELESS_BUTTONS = """() => [...document.querySelectorAll('button')]
  .filter((el) => !el.textContent.trim() && !(el.getAttribute('aria-label') || '').trim())
  .map((el) => el.outerHTML.slice(0, 120))"""
LINKS = """() => [...document.querySelectorAll('a[href]')].map((a) => a.getAttribute('href'))"""
# Every element the keyboard should reach: visible, enabled, not taken out of the tab order.
FOCUSABLE = """() => {
  const all = [...document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea')];
  const shown = all.filter((el) => !el.disabled && el.tabIndex >= 0 && el.getClientRects().length
    && getComputedStyle(el).visibility !== 'hidden');
  shown.forEach((el, index) => { el.dataset.walk = String(index); });
  return shown.length;
}"""
OVERFLOW = "() => document.documentElement.scrollWidth - window.innerWidth"


def _name(path: str, ids: dict[str, str]) -> str:
    """The screenshot name of a page; connector ids (random) are replaced by the connector's name."""
    for connector_id, name in ids.items():
        path = path.replace(f"/{connector_id}/", f"/{name}/")
    slug = re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-")
    return f"page-{slug or 'home'}"


def _fixtures(engine: Any, tmp_path: Path) -> dict[str, str]:
    """A South and a North (and one of each admin row) so that their pages and rows exist; their ids."""
    mode = scan_mode_id(engine, "Every second")
    south = folder_scanner_body(tmp_path / "in", mode, name="scanner")
    south["enabled"] = False
    south_id = engine.ok("POST", "/api/south", south)["id"]
    writer = north_body("writer", "file-writer", {"outputFolder": str(tmp_path / "out")}, mode)
    writer["enabled"] = False
    north_id = engine.ok("POST", "/api/north", writer)["id"]
    engine.ok("POST", "/api/ip-filters", {"address": "10.0.0.*", "description": "plant LAN"})
    engine.ok("POST", "/api/external-sources", {"reference": "remote-1"})
    engine.ok("POST", "/api/certificates", {"name": "plant", "options": {"commonName": "plant.example"}})
    engine.ok(
        "POST",
        "/api/transformers",
        {
            "name": "pass",
            "inputType": "any",
            "outputType": "any",
            "customCode": "function transform(c) { return {data: c}; }",
        },
    )
    return {south_id: "scanner", north_id: "writer"}


def _check_keyboard(page: Page) -> list[str]:
    """Tab from the top of the page; return the elements never reached."""
    count = min(int(page.evaluate(FOCUSABLE)), MAX_TAB_STOPS)
    # Start from the top: focus a probe outside the tab order placed before everything else.
    page.evaluate(
        "() => { const probe = document.createElement('span'); probe.tabIndex = -1;"
        " document.body.prepend(probe); probe.focus(); window.scrollTo(0, 0); }"
    )
    reached: set[str] = set()
    first = None
    # Some fields take several stops (a date-time input has one per part): press until all are reached.
    for _ in range(3 * count + 10):
        page.keyboard.press("Tab")
        walk, name = page.evaluate(
            "() => [document.activeElement.dataset.walk || null, document.activeElement.className]"
        )
        first = name if first is None else first
        if walk is not None:
            reached.add(walk)
        if len(reached) >= count:
            break
    missing = [
        page.evaluate(f"() => document.querySelector('[data-walk=\"{index}\"]').outerHTML.slice(0, 120)")
        for index in range(count)
        if str(index) not in reached
    ]
    if first != "skip":
        missing.insert(0, f"the first Tab stop is {first!r}, not the skip link")
    return missing


def _check_page(page: Page, path: str, name: str, problems: list[str]) -> None:
    if path != "/login" and page.locator(".banner.warning").count() != 1:
        problems.append(f"{path}: no default-password banner")
    for found in page.evaluate(UNLABELLED):
        problems.append(f"{path}: input without a label: {found}")
    for found in page.evaluate(NAMELESS_BUTTONS):
        problems.append(f"{path}: button without a name: {found}")
    for found in _check_keyboard(page):
        problems.append(f"{path}: not reachable with Tab: {found}")
    screenshot_everywhere(page, name)
    page.set_viewport_size({"width": 390, "height": 844})
    overflow = page.evaluate(OVERFLOW)
    if overflow > 0:
        problems.append(f"{path}: {overflow} px wider than a 390-px phone")
    page.set_viewport_size({"width": 1280, "height": 800})


def test_every_page_is_labelled_keyboard_reachable_phone_sized_and_screenshotted(tmp_path: Path) -> None:
    with running_engine(tmp_path / "data") as engine, chromium() as browser:
        ids = _fixtures(engine, tmp_path)
        base = engine.url
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(TIMEOUT_MS)
        problems: list[str] = []
        page.goto(f"{base}/login")
        _check_page(page, "/login", "page-login", problems)
        login(page, base)
        seen: list[str] = []
        queue = ["/"]
        while queue and len(seen) < MAX_PAGES:
            path = queue.pop(0)
            if path in seen:
                continue
            seen.append(path)
            response = page.goto(f"{base}{path}")
            assert response is not None and response.status == 200, path
            page.wait_for_load_state("load")
            _check_page(page, path, _name(path, ids), problems)
            for href in page.evaluate(LINKS):
                target = href.split("#")[0].split("?")[0]
                if target.startswith("/") and not NOT_PAGES.match(target) and target not in seen:
                    queue.append(target)
        # The walk found the pages of every part of the UI.
        for expected in (
            "/",
            "/engine",
            "/users",
            "/ip-filters",
            "/certificates",
            "/external-sources",
            "/logs",
            "/transformers",
        ):
            assert expected in seen, (expected, seen)
        assert any(path.endswith("/items") for path in seen) and any(path.endswith("/cache") for path in seen)
        assert not problems, "\n".join(problems)
        for path in seen:
            for label in ("desktop", "phone"):
                assert (ARTIFACTS / f"{_name(path, ids)}-{label}.png").stat().st_size > 0
