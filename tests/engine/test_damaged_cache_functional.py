"""A North cache damaged while the engine was stopped: after a real restart nothing acknowledged is deleted.

An entry whose metadata cannot be parsed goes to the error folder with metadata rebuilt from its content;
a truncated or garbled content file (its size or checksum off what the metadata records) goes to the error
folder too; each with a line in the log. The intact entries stay queued.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine_process import EngineProcess, api_rule, batch, north_body, post_values


def _console_that_never_sends(engine: EngineProcess) -> str:
    """A console North whose cache only fills: its trigger is a yearly cron and no thresholds."""
    never = engine.ok("POST", "/api/scan-modes", {"name": "yearly", "description": "", "cron": "0 0 0 1 1 *"})
    body = north_body(
        "holder",
        "console",
        {"verbose": False},
        never["id"],
        trigger={"numberOfElements": 0, "numberOfFiles": 0},
        transformers=[api_rule("src")],
    )
    north_id = str(engine.ok("POST", "/api/north", body)["id"])
    engine.wait_state("north", north_id, "RUNNING")
    return north_id


def _entries(engine: EngineProcess, north_id: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = engine.ok("GET", f"/api/north/{north_id}/cache/search")
    return found


def _values_on_disk(root: Path, *, but: str = "") -> set[int]:
    """Every value held by the content files under ``root`` (one North's folder in cache/ or error/)."""
    held: set[int] = set()
    for content in (root / "content").iterdir():
        if content.name != but:
            held.update(int(value["data"]["value"]) for value in json.loads(content.read_bytes()))
    return held


def test_damaged_cache_entries_go_to_the_error_folder_across_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    engine = EngineProcess(data).start()
    try:
        north_id = _console_that_never_sends(engine)
        for start in (0, 100, 200, 300):
            assert post_values(engine, batch(start, 10)) == 204
        queued = _entries(engine, north_id)["cache"]
        assert len(queued) == 4, queued
    finally:
        assert engine.stop() == 0
    cache_root, error_root = data / "cache" / f"north-{north_id}", data / "error" / f"north-{north_id}"
    garbled_metadata, truncated, garbled_content, intact = (entry["filename"] for entry in queued)
    (cache_root / "metadata" / garbled_metadata).write_bytes(b'{"contentFile": "x.json", "contentSi')
    content = cache_root / "content" / truncated
    cut = content.read_bytes()[:-7]
    content.write_bytes(cut)
    content = cache_root / "content" / garbled_content
    # The same size, still JSON: only the checksum tells.
    content.write_bytes(content.read_bytes().replace(b"209", b"299"))

    engine = EngineProcess(data, engine.port).start()
    try:
        engine.wait_state("north", north_id, "RUNNING")
        found = _entries(engine, north_id)
        assert [entry["filename"] for entry in found["cache"]] == [intact]
        errors = {entry["filename"]: entry for entry in found["error"]}
        assert set(errors) == {garbled_metadata, truncated, garbled_content}
        rebuilt = errors[garbled_metadata]
        assert (rebuilt["contentType"], rebuilt["numberOfElement"]) == ("time-values", 10)
    finally:
        assert engine.stop() == 0
    log = engine.log()
    assert "unparsable cache metadata: entry kept in the error folder" in log
    assert log.count("damaged cache content moved to the error folder") == 2, log[-3000:]
    assert "its metadata recorded" in log
    # Nothing deleted: every acknowledged value is still on disk, queued or in the error folder, and the damaged
    # metadata is kept for whoever investigates.
    assert _values_on_disk(cache_root) == set(range(300, 310))
    assert _values_on_disk(error_root, but=truncated) == {*range(0, 10), *range(200, 209), 299}
    assert (error_root / "content" / truncated).read_bytes() == cut
    assert (error_root / "damaged" / f"{garbled_metadata}.metadata").exists()
