"""End to end through the REST API only: a real engine, real workers, real files."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import pytest
from engine_process import EngineProcess, north_body


def scan_mode_id(engine: EngineProcess, name: str) -> str:
    modes = engine.ok("GET", "/api/scan-modes")
    return str(next(mode["id"] for mode in modes if mode["name"] == name))


def folder_scanner_body(input_dir: Path, scan_mode: str, *, preserve: bool = False) -> dict[str, Any]:
    return {
        "name": "scanner",
        "type": "folder-scanner",
        "description": "",
        "enabled": True,
        "settings": {"inputFolder": str(input_dir), "compression": False},
        "items": [
            {
                "name": "all files",
                "enabled": True,
                "scanModeId": scan_mode,
                "settings": {
                    "regex": ".*",
                    "minAge": 0,
                    "preserveFiles": preserve,
                    "ignoreModifiedDate": False,
                    "maxFiles": 0,
                    "maxSize": 0,
                    "recursive": False,
                },
            }
        ],
        "groups": [],
    }


def wait_for(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise TimeoutError(what)


@pytest.fixture
def engine(tmp_path: Path) -> Any:
    process = EngineProcess(tmp_path / "data").start()
    try:
        yield process
    finally:
        if process.proc is not None and process.proc.poll() is None:
            assert process.stop() == 0, process.log()


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
