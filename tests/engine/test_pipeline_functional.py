"""End to end through the REST API only: a real engine, real workers, real files."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_process import EngineProcess, folder_scanner_body, north_body, running_engine, scan_mode_id, wait_for


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[EngineProcess]:
    with running_engine(tmp_path / "data") as process:
        yield process


def test_folder_scanner_to_file_writer_delivers_1000_files_byte_identical(
    engine: EngineProcess, tmp_path: Path
) -> None:
    input_dir = tmp_path / "input"
    output_dir = tmp_path / "output"
    input_dir.mkdir()
    output_dir.mkdir()
    digests: dict[str, str] = {}
    for index in range(1000):
        data = os.urandom(64 + index % 512) + f"file {index}".encode()
        name = f"f{index:04d}.bin"
        (input_dir / name).write_bytes(data)
        digests[name] = hashlib.sha256(data).hexdigest()

    every_second = scan_mode_id(engine, "Every second")
    north = engine.ok(
        "POST",
        "/api/north",
        north_body("files", "file-writer", {"outputFolder": str(output_dir), "prefix": "", "suffix": ""}, every_second),
    )
    engine.wait_state("north", north["id"], "RUNNING")
    south = engine.ok("POST", "/api/south", folder_scanner_body(input_dir, every_second))
    engine.wait_state("south", south["id"], "RUNNING")

    wait_for(lambda: len(list(output_dir.iterdir())) >= 1000, 60, f"files delivered: {engine.log()[-3000:]}")
    wait_for(lambda: not any(input_dir.iterdir()), 30, "input folder emptied")
    delivered = {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in output_dir.iterdir()}
    assert delivered == digests
    assert not any(input_dir.iterdir())


def test_worker_logs_reach_the_log_database_with_their_scope(engine: EngineProcess, tmp_path: Path) -> None:
    north = engine.ok(
        "POST",
        "/api/north",
        north_body("logged", "file-writer", {"outputFolder": str(tmp_path)}, scan_mode_id(engine, "Every second")),
    )
    engine.wait_state("north", north["id"], "RUNNING")

    def started_logged() -> bool:
        page = engine.ok("GET", f"/api/logs?scopeTypes=north&scopeIds={north['id']}")
        return any("connector started" in entry["message"] for entry in page["content"])

    wait_for(started_logged, 10, "the worker's log line in GET /api/logs")
    (entry,) = [
        e
        for e in engine.ok("GET", f"/api/logs?scopeIds={north['id']}")["content"]
        if "connector started" in e["message"]
    ]
    assert (entry["scopeType"], entry["scopeName"], entry["level"]) == ("north", "logged", "info")
