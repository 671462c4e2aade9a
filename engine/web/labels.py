"""Labels of generated forms from the catalogue: the engine form's ``general.name`` reads ``engine.f.general.name``.

The JSON Schema of a settings struct names its fields (``maxFileSize``) and its sections
(``FileLogSettings``), which an operator should not have to read; a page that knows its form gives each
field a catalogue key instead, so the label is translated like every other text.
"""

from __future__ import annotations

from dataclasses import replace

from engine.web.forms import Field
from engine.web.i18n import CATALOGUE, DEFAULT_LANG, translate


def labelled(found: list[Field] | tuple[Field, ...], lang: str, prefix: str) -> list[Field]:
    """``found`` with each label read from ``<prefix>.<path>`` when the catalogue has that key (children too)."""
    relabelled = []
    for field in found:
        key = f"{prefix}.{field.path}"
        label = translate(lang, key) if key in CATALOGUE[DEFAULT_LANG] else field.label
        relabelled.append(replace(field, label=label, children=tuple(labelled(field.children, lang, prefix))))
    return relabelled


def missing_labels(found: list[Field] | tuple[Field, ...], prefix: str) -> list[str]:
    """The catalogue keys ``labelled`` would look for and not find (a test keeps this empty)."""
    missing = []
    for field in found:
        key = f"{prefix}.{field.path}"
        if key not in CATALOGUE[DEFAULT_LANG]:
            missing.append(key)
        missing.extend(missing_labels(field.children, prefix))
    return missing
