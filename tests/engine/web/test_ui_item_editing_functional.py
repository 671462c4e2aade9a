"""Items in a real browser: add, edit, test, groups, move to a group, sort, delete, CSV export and import.

The add form shows a field error first; the CSV import shows its preview (new rows, rows with errors)
before the operator confirms.
"""

from __future__ import annotations

from pathlib import Path

from engine_process import EngineProcess, folder_scanner_body, running_engine, scan_mode_id
from playwright.sync_api import Page, expect
from ui_browser import TIMEOUT_MS, chromium, login, screenshot_everywhere


def _add_item(page: Page, base: str, south_id: str) -> None:
    page.goto(f"{base}/south/{south_id}/items")
    page.get_by_role("link", name="Add item").click()
    page.wait_for_url(f"{base}/south/{south_id}/items/new")
    page.locator("#item-name").fill("csv files")
    page.locator("#settings-regex").fill(r".*\.csv")
    page.locator("#settings-minAge").fill("-1")
    page.get_by_role("button", name="Save").click()
    expect(page.locator('[data-field="settings.minAge"] .field-error')).to_be_visible()
    expect(page.locator("#item-name")).to_have_value("csv files")
    # An error about the settings as a whole (a regex that does not compile) shows on their fieldset.
    page.locator("#settings-minAge").fill("0")
    page.locator("#settings-regex").fill("(unclosed")
    page.get_by_role("button", name="Save").click()
    expect(page.locator('[data-group="settings"] > .field-error')).to_contain_text("regular expression")
    expect(page.locator('[data-field="settings.minAge"] .field-error')).to_be_hidden()
    screenshot_everywhere(page, "item-form-error")
    page.locator("#settings-regex").fill(r".*\.csv")
    page.locator("#settings-preserveFiles").check()
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(f"{base}/south/{south_id}/items")
    expect(page.locator("#items-table")).to_contain_text("csv files")


def _test_and_edit_item(page: Page, engine: EngineProcess, south_id: str) -> None:
    page.get_by_role("link", name="csv files").click()
    expect(page.locator("#settings-regex")).to_have_value(r".*\.csv")
    page.get_by_role("button", name="Test item").click()
    expect(page.locator("#item-test-outcome")).to_have_text("1 values read.")
    values = page.locator("#item-test-values tbody tr")
    expect(values).to_have_count(1)
    expect(values.first.locator("td").nth(0)).to_have_text("csv files")
    expect(values.first.locator("td").nth(2)).to_have_text("reading.csv")
    screenshot_everywhere(page, "item-test")
    page.locator("#item-name").fill("csv readings")
    page.locator("#item-enabled").uncheck()
    page.get_by_role("button", name="Save").click()
    page.wait_for_url(f"{engine.url}/south/{south_id}/items")
    item = engine.ok("GET", f"/api/south/{south_id}/items/search?name=csv")["content"][0]
    assert item["name"] == "csv readings" and item["enabled"] is False
    assert item["settings"]["regex"] == r".*\.csv"


def _groups(page: Page, engine: EngineProcess, south_id: str) -> None:
    page.locator("#new-group-name").fill("")
    page.get_by_role("button", name="Create").click()
    expect(page.locator('[data-field="standardSettings.name"] .field-error')).to_be_visible()
    page.locator("#new-group-name").fill("line 1")
    page.locator("#new-group-mode").select_option(label="Every hour")
    page.get_by_role("button", name="Create").click()
    expect(page.locator("#groups-table tbody tr")).to_have_count(1)
    page.locator("#groups-table .group-name").fill("line A")
    page.locator("#groups-table").get_by_role("button", name="Save").click()
    expect(page.locator("#groups-table .group-status")).to_have_text("Saved.")
    groups = engine.ok("GET", f"/api/south/{south_id}/groups")
    assert [group["standardSettings"]["name"] for group in groups] == ["line A"]
    # Move two checked items into it.
    page.get_by_label("Select csv readings").check()
    page.get_by_label("Select all files").check()
    page.locator("#move-group").select_option(label="line A")
    page.get_by_role("button", name="Move", exact=True).click()
    expect(page.locator("#items-table tbody tr").first.locator("td").nth(4)).to_have_text("line A")
    moved = engine.ok("GET", f"/api/south/{south_id}/items/list")
    assert {item["name"]: (item["group"] or {}).get("name") for item in moved} == {
        "all files": "line A",
        "csv readings": "line A",
        "zz last": None,
    }


def _sort(page: Page) -> None:
    names = page.locator("#items-table tbody tr td:nth-child(2)")
    expect(names).to_have_text(["all files", "csv readings", "zz last"])
    page.locator('a.sort[data-sort="name"]').click()
    expect(names).to_have_text(["zz last", "csv readings", "all files"])
    expect(page.locator('th[aria-sort="descending"]')).to_have_count(1)
    # The sort survives a search, and the group column sorts (ungrouped first).
    page.locator("#item-search").fill("l")
    expect(names).to_have_text(["zz last", "csv readings", "all files"])
    page.locator("#item-search").fill("")
    page.locator('a.sort[data-sort="group"]').click()
    expect(names.first).to_have_text("zz last")


def _export_then_import(page: Page, engine: EngineProcess, south_id: str, tmp_path: Path) -> None:
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    exported = download.value.path().read_text()
    assert exported.splitlines()[0].startswith("name,")
    assert "csv readings" in exported
    header = exported.splitlines()[0]
    row = exported.splitlines()[1].split(",")
    # Two new rows (taken from an exported one), one row naming a stored item (it updates it) and one bad
    # row: a name already on line 2, and a bad enabled.
    lines = [header, ",".join(["imported 1", *row[1:]]), ",".join(["imported 2", *row[1:]])]
    lines.append(",".join(["zz last", "false", *row[2:]]))
    lines.append(",".join(["imported 1", "maybe", *row[2:]]))
    csv_file = tmp_path / "import.csv"
    csv_file.write_text("\n".join(lines) + "\n")
    before = {item["name"]: item for item in engine.ok("GET", f"/api/south/{south_id}/items/list")}
    page.locator("#import-file").set_input_files(str(csv_file))
    page.get_by_role("button", name="Check").click()
    expect(page.locator("#import-outcome")).to_have_text("2 new items, 1 updated items, 1 rows with errors.")
    # The preview lists the file's rows in order, each new, updating, or with its errors.
    preview = page.locator("#import-preview tbody tr")
    expect(preview).to_have_count(4)
    expect(preview.locator("td:first-child")).to_have_text(["2", "3", "4", "5"])
    expect(page.locator("#import-preview tr.row-new")).to_have_count(2)
    update = page.locator("#import-preview tr.row-update")
    expect(update).to_have_count(1)
    expect(update).to_contain_text("zz last")
    expect(update).to_contain_text("updates the existing item")
    error = page.locator("#import-preview tr.row-error")
    expect(error).to_have_count(1)
    expect(error).to_contain_text("already used on line 2")
    expect(error).to_contain_text("enabled")
    screenshot_everywhere(page, "items-import-preview")
    assert engine.ok("GET", f"/api/south/{south_id}/items/list") == list(before.values())  # the check stored nothing
    page.get_by_role("button", name="Import the new and updated items").click()
    expect(page.locator("#import-outcome")).to_have_text("2 items created, 1 updated.")
    expect(page.locator("#items-count")).to_have_text("5 items")
    after = {item["name"]: item for item in engine.ok("GET", f"/api/south/{south_id}/items/list")}
    assert {"imported 1", "imported 2"} <= set(after)
    assert after["zz last"]["id"] == before["zz last"]["id"] and before["zz last"]["enabled"]
    assert not after["zz last"]["enabled"]


def test_items_add_edit_test_group_sort_import(tmp_path: Path) -> None:
    input_dir = tmp_path / "in"
    input_dir.mkdir()
    (input_dir / "reading.csv").write_text("a,b\n1,2\n")
    with running_engine(tmp_path / "data") as engine, chromium() as browser:
        hourly = scan_mode_id(engine, "Every hour")
        body = folder_scanner_body(input_dir, hourly, preserve=True)
        body["items"].append({**body["items"][0], "name": "zz last"})
        south_id = engine.ok("POST", "/api/south", body)["id"]
        engine.wait_state("south", south_id, "RUNNING")
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(TIMEOUT_MS)
        page.on("dialog", lambda dialog: dialog.accept())
        login(page, engine.url)
        _add_item(page, engine.url, south_id)
        _test_and_edit_item(page, engine, south_id)
        _groups(page, engine, south_id)
        _sort(page)
        _export_then_import(page, engine, south_id, tmp_path)
        # Delete one (after the confirmation).
        page.locator("#item-search").fill("imported 2")
        expect(page.locator("#items-count")).to_have_text("1 items")
        page.locator("#items-table").get_by_role("button", name="Delete").click()
        expect(page.locator("#items-count")).to_have_text("0 items")
        screenshot_everywhere(page, "items-groups")
        assert "imported 2" not in {item["name"] for item in engine.ok("GET", f"/api/south/{south_id}/items/list")}
        # Deleting the group leaves its items, ungrouped.
        page.locator("#groups-table").get_by_role("button", name="Delete").click()
        expect(page.locator("#groups-table")).to_contain_text("No group yet.")
        assert engine.ok("GET", f"/api/south/{south_id}/groups") == []
        assert len(engine.ok("GET", f"/api/south/{south_id}/items/list")) == 4
