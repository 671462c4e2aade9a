"""The custom transformers page in a real browser, against a real engine process (and its V8 sandbox).

Create from the input type's template (a refused field is named next to it and what was typed stays),
test the code as typed on the sample input, save, edit, and delete; the API holds what the page did.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from engine_process import running_engine
from playwright.sync_api import expect
from ui_browser import TIMEOUT_MS, chromium, login, screenshot_everywhere

DOUBLING = """function transform(content, source, filename, options) {
  const values = JSON.parse(content).map((v) => ({ ...v, data: { value: v.data.value * options.factor } }));
  return { data: values, numberOfElement: values.length };
}"""


def test_create_test_edit_and_delete_a_custom_transformer(tmp_path: Path) -> None:
    with running_engine(tmp_path / "data") as engine, chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.set_default_timeout(TIMEOUT_MS)
        page.on("dialog", lambda dialog: dialog.accept())
        login(page, engine.url)
        page.get_by_role("navigation", name="main").get_by_role("link", name="Transformers").click()
        expect(page.get_by_role("heading", name="Custom transformers")).to_be_visible()
        page.get_by_label("Name").fill("Double")
        page.get_by_label("Input type").select_option("time-values")
        page.get_by_label("Output type").select_option("time-values")
        # Saved without code: the API's refusal is next to the code field, the typed name stays.
        page.get_by_role("button", name="Save").click()
        error = page.locator('[data-field="customCode"] .field-error')
        expect(error).to_be_visible()
        expect(page.get_by_label("Name")).to_have_value("Double")
        # The template fills the code and a sample input; its test runs in the sandbox as typed.
        page.get_by_role("button", name="Fill from the input type's template").click()
        expect(page.locator("#customCode")).to_have_value(re.compile("function transform"))
        expect(page.locator("#test-input")).to_have_value(re.compile("TEMP-01"))
        page.get_by_role("button", name="Run the test").click()
        expect(page.locator("#transformer-outcome")).to_have_text("Done: 1 elements.")
        assert json.loads(page.locator("#transformer-output").text_content() or "")[0]["data"]["value"] == 21.5
        # Code that throws is named next to the code, and the outcome says why.
        page.locator("#customCode").fill("function transform() { throw new Error('boom'); }")
        page.get_by_role("button", name="Run the test").click()
        expect(page.locator("#transformer-outcome")).to_contain_text("boom")
        expect(error).to_contain_text("boom")
        page.locator("#customCode").fill(DOUBLING)
        page.locator("#test-options").fill('{"factor": 3}')
        page.get_by_role("button", name="Run the test").click()
        expect(page.locator("#transformer-outcome")).to_have_text("Done: 1 elements.")
        assert json.loads(page.locator("#transformer-output").text_content() or "")[0]["data"]["value"] == 64.5
        screenshot_everywhere(page, "transformers-test")
        assert engine.ok("GET", "/api/transformers/search?type=custom")["content"] == []  # a test saves nothing
        page.get_by_role("button", name="Save").click()
        expect(page.locator("#resource-table")).to_contain_text("Double")
        (stored,) = engine.ok("GET", "/api/transformers/search?type=custom")["content"]
        assert (stored["name"], stored["inputType"], stored["customCode"]) == ("Double", "time-values", DOUBLING)
        # Edit: the form is filled with the stored transformer, and saves over it.
        page.get_by_role("button", name="Edit Double").click()
        expect(page.locator("#customCode")).to_have_value(DOUBLING)
        expect(page.locator("#customManifest")).to_have_value("{}")
        page.get_by_label("Name").fill("Triple")
        page.get_by_role("button", name="Save").click()
        expect(page.locator("#resource-table")).to_contain_text("Triple")
        assert engine.ok("GET", f"/api/transformers/{stored['id']}")["name"] == "Triple"
        page.get_by_role("button", name="Delete Triple").click()
        expect(page.locator("#resource-table")).to_contain_text("None yet.")
        assert engine.ok("GET", "/api/transformers/search?type=custom")["content"] == []
