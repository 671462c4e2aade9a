"""A full disk under a real engine's data folder: 507 at the API, Souths keep their source, all resumes alone.

The data folder is a tmpfs the test mounts (CI runs as root), filled to the last byte while values are posted
through the API and a folder-scanner South (input outside the tmpfs) scans. Nothing answers a 5xx other than
507, every acknowledged value and every file reaches the file-writer North (output outside the tmpfs), and
once the filler is removed everything flows again without a restart.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from disk_support import fill, small_file_system
from engine_process import (
    EngineProcess,
    api_rule,
    batch,
    folder_scanner_body,
    north_body,
    post_values,
    running_engine,
    scan_mode_id,
    wait_for,
)

BATCH = 50


def _delivered_values(output_dir: Path, files: set[str]) -> list[int]:
    found: list[int] = []
    for path in output_dir.iterdir():
        if path.name not in files and not path.name.startswith("."):
            found.extend(int(value["data"]["value"]) for value in json.loads(path.read_bytes()))
    return sorted(found)


def _post(engine: EngineProcess, start: int, acknowledged: list[int], statuses: list[int]) -> int:
    status = post_values(engine, batch(start, BATCH))
    statuses.append(status)
    if status == 204:
        acknowledged.extend(range(start, start + BATCH))
    return status


def test_a_full_data_folder_refuses_with_507_keeps_the_source_and_resumes_without_restart(tmp_path: Path) -> None:
    input_dir, output_dir = tmp_path / "input", tmp_path / "output"
    input_dir.mkdir()
    output_dir.mkdir()
    with small_file_system(tmp_path / "data", size="64m") as data, running_engine(data) as engine:
        every_second = scan_mode_id(engine, "Every second")
        settings = {"outputFolder": str(output_dir), "prefix": "", "suffix": ""}
        north = engine.ok(
            "POST",
            "/api/north",
            north_body("files", "file-writer", settings, every_second, transformers=[api_rule("src")]),
        )
        engine.wait_state("north", north["id"], "RUNNING")
        south = engine.ok("POST", "/api/south", folder_scanner_body(input_dir, every_second))
        engine.wait_state("south", south["id"], "RUNNING")

        acknowledged: list[int] = []
        statuses: list[int] = []
        assert _post(engine, 0, acknowledged, statuses) == 204

        filler = fill(data)
        start = BATCH
        for _ in range(40):  # until the cache refuses for want of space (a few writes may still fit)
            status = _post(engine, start, acknowledged, statuses)
            start += BATCH
            if status == 507:
                break
        assert 507 in statuses, statuses
        # While the disk is full, files dropped at the source stay there: the South does not lose them.
        written = {f"f{index:02d}.bin": os.urandom(64) + f"file {index}".encode() for index in range(10)}
        for name, content in written.items():
            (input_dir / name).write_bytes(content)
        for _ in range(3):
            _post(engine, start, acknowledged, statuses)
            start += BATCH
        assert engine.proc is not None and engine.proc.poll() is None, "the engine keeps running on a full disk"
        assert set(written) <= {path.name for path in input_dir.iterdir()} | {p.name for p in output_dir.iterdir()}

        filler.unlink()
        # Space freed: no restart. The next posts are stored, the South's files go out, nothing acknowledged is lost.
        wait_for(lambda: _post(engine, start + len(statuses) * BATCH, acknowledged, statuses) == 204, 30, "stored")
        wait_for(lambda: not any(input_dir.iterdir()), 60, f"input folder emptied: {engine.log()[-3000:]}")
        wait_for(
            lambda: set(acknowledged) <= set(_delivered_values(output_dir, set(written))),
            60,
            f"every acknowledged value delivered: {engine.log()[-3000:]}",
        )
        assert set(statuses) <= {204, 507}, statuses
        delivered_files = {path.name: path.read_bytes() for path in output_dir.iterdir() if path.name in written}
        assert delivered_files == written
        assert engine.ok("GET", f"/api/south/{south['id']}")["id"] == south["id"]
