"""``docs/architecture.md`` is the map of the tree: every path it names exists, and each responsibility has a home."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "architecture.md"
TOP = ("engine/", "connectors/", "launcher/", "tests/", "bench/", "docs/", ".ci/")


def named_paths(text: str) -> set[str]:
    """Every code span that is a path of the tree: ``engine/x.py``, ``engine/cache/north/`` (``<...>`` parts not)."""
    paths: set[str] = set()
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    for span in re.findall(r"`([^`]+)`", prose):
        for word in span.replace(",", " ").split():
            if word.startswith(TOP) and "<" not in word:
                paths.add(word.rstrip(".;:)"))
    return paths


def home_of(text: str, responsibility: str) -> str:
    """The home column of the table row whose responsibility mentions ``responsibility``."""
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 2 and responsibility in cells[0].lower():
            return cells[1]
    return ""


def test_every_path_the_page_names_exists() -> None:
    text = PAGE.read_text(encoding="utf-8")
    paths = named_paths(text)
    assert len(paths) > 30, "the page names the homes of the tree"
    missing = sorted(path for path in paths if not (ROOT / path).exists())
    assert missing == []


def test_files_named_after_a_folder_exist_in_it() -> None:
    """In ``engine/supervisor/worker.py``, ``process.py``: the bare names live in the first path's folder."""
    text = PAGE.read_text(encoding="utf-8")
    missing = []
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 2:
            continue
        spans = re.findall(r"`([^`(]+?)`", cells[1])
        base = next((span for span in spans if span.startswith(TOP)), None)
        if base is None:
            continue
        folder = ROOT / base if base.endswith("/") else (ROOT / base).parent
        missing += [f"{folder.relative_to(ROOT)}/{span}" for span in spans
                    if span.endswith(".py") and "/" not in span and not (folder / span).exists()]  # fmt: skip
    assert missing == []


def test_each_responsibility_has_a_home() -> None:
    text = PAGE.read_text(encoding="utf-8")
    responsibilities = (
        "ingestion",
        "acknowledgement",
        "north disk cache",
        "history windowing",
        "where a south is saved",
        "ipc",
        "worker process",
        "one worker process",
        "rest api",
        "browser ui",
        "oianalytics",
        "launcher",
    )
    homeless = [name for name in responsibilities if not home_of(text, name)]
    assert homeless == []
