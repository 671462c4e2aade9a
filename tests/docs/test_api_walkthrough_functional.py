"""docs/api-walkthrough.md, run as written against a real engine process.

The ``sh`` blocks are taken from the page in order and run as one bash script (``set -euo pipefail``), with
only the page's own variables set from outside: ``OIBUS`` (the engine's URL), ``WORK`` (a temporary folder).
A ``text`` block right after a ``sh`` block is the output that block must print, line for line (a final
newline aside). The page
and this test cannot drift apart: change one and the other fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from engine_process import running_engine

PAGE = Path(__file__).resolve().parents[2] / "docs" / "api-walkthrough.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
MARK = "@@walkthrough-block-{}@@"


def blocks() -> list[tuple[str, str | None]]:
    """The page's ``sh`` blocks, each with the ``text`` block that follows it (its expected output), if any."""
    found = [(kind, body) for kind, body in FENCE.findall(PAGE.read_text())]
    pairs: list[tuple[str, str | None]] = []
    for index, (kind, body) in enumerate(found):
        if kind != "sh":
            continue
        following = found[index + 1] if index + 1 < len(found) else None
        pairs.append((body, following[1] if following is not None and following[0] == "text" else None))
    return pairs


def test_the_page_has_what_the_test_runs() -> None:
    pairs = blocks()
    assert len(pairs) >= 10, "the walk-through lost its blocks"
    assert sum(expected is not None for _, expected in pairs) >= 8, "most blocks show their output"
    text = PAGE.read_text()
    for topic in ("/api/openapi.json", "/api/scan-modes", "/api/transformers/list", "journal.log", "enabled"):
        assert topic in text


def test_the_walkthrough_runs_as_written(tmp_path: Path) -> None:
    # The page's readers need curl and jq; .ci/run installs them.
    missing = [tool for tool in ("curl", "jq") if shutil.which(tool) is None]
    assert not missing, f"{missing} not installed (.ci/run installs them)"
    pairs = blocks()
    script = "set -euo pipefail\n" + "".join(
        f"echo '{MARK.format(index)}'\n{body}" for index, (body, _) in enumerate(pairs)
    )
    work = tmp_path / "work"
    with running_engine(tmp_path / "data") as engine:
        done = subprocess.run(
            ["bash", "-c", script],
            env={**os.environ, "OIBUS": engine.url, "WORK": str(work)},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, f"{done.stderr}\n{done.stdout}\n{engine.log()[-3000:]}"
    # A block may end without a newline (``cat`` of a file that has none): the marker then ends its last line.
    outputs = [part.rstrip("\n") for part in re.split(r"@@walkthrough-block-\d+@@\n", done.stdout)[1:]]
    assert len(outputs) == len(pairs), done.stdout
    wrong = [
        f"block {index} printed {output!r}, the page says {expected!r}:\n{body}"
        for index, ((body, expected), output) in enumerate(zip(pairs, outputs, strict=True))
        if expected is not None and output != expected.rstrip("\n")
    ]
    assert not wrong, "\n\n".join(wrong)
    # What the page promises happened: both files and the values went through the North.
    assert sorted(path.name for path in (work / "out").iterdir()) == ["first.csv", "second.csv", "values.csv"]
    assert not any((work / "in").iterdir())
