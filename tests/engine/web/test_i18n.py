"""The UI catalogue: every English text has its French one, with the same placeholders."""

from __future__ import annotations

import re

from engine.web.i18n import CATALOGUE, DEFAULT_LANG

PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


def test_every_english_text_has_a_french_one() -> None:
    missing = sorted(set(CATALOGUE[DEFAULT_LANG]) - set(CATALOGUE["fr"]))
    assert not missing, f"catalogue keys without French: {missing}"
    extra = sorted(set(CATALOGUE["fr"]) - set(CATALOGUE[DEFAULT_LANG]))
    assert not extra, f"French keys English does not have (a typo?): {extra}"


def test_french_texts_keep_the_placeholders_the_pages_fill_in() -> None:
    differing = {
        key: (text, CATALOGUE["fr"][key])
        for key, text in CATALOGUE[DEFAULT_LANG].items()
        if sorted(PLACEHOLDER.findall(text)) != sorted(PLACEHOLDER.findall(CATALOGUE["fr"].get(key, text)))
    }
    assert not differing, differing
