"""Nothing is lost when no North takes the data.

A stopped North keeps collecting, and with no North at all the source keeps its data (real engine, real
workers, real files).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
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

FILES = 100
NO_NORTH_WARNING = "no north connector takes this south's content"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[EngineProcess]:
    with running_engine(tmp_path / "data") as process:
        yield process


def _drop_files(folder: Path) -> dict[str, bytes]:
    written = {}
    for index in range(FILES):
        name = f"f{index:03d}.bin"
        data = os.urandom(32) + f"file {index}".encode()
        (folder / name).write_bytes(data)
        written[name] = data
    return written


def _folders(tmp_path: Path) -> tuple[Path, Path]:
    """The folder scanner's input and the file writer's output, created."""
    input_dir, output_dir = tmp_path / "input", tmp_path / "output"
    input_dir.mkdir()
    output_dir.mkdir()
    return input_dir, output_dir


def _stopped_file_writer(engine: EngineProcess, output_dir: Path, scan_mode: str, **caching: Any) -> dict[str, Any]:
    """A file-writer North into ``output_dir``, started then stopped (``caching``: ``north_body``'s extras)."""
    settings = {"outputFolder": str(output_dir), "prefix": "", "suffix": ""}
    north: dict[str, Any] = engine.ok(
        "POST", "/api/north", north_body("files", "file-writer", settings, scan_mode, **caching)
    )
    engine.wait_state("north", north["id"], "RUNNING")
    engine.ok("POST", f"/api/north/{north['id']}/stop")
    engine.wait_state("north", north["id"], "STOPPED")
    return north


def _warnings(engine: EngineProcess, south_id: str) -> list[str]:
    page = engine.ok("GET", f"/api/logs?scopeIds={south_id}&levels=warn")
    return [entry["message"] for entry in page["content"] if NO_NORTH_WARNING in entry["message"]]


def test_a_stopped_north_keeps_collecting_and_delivers_everything_once_started(
    engine: EngineProcess, tmp_path: Path
) -> None:
    input_dir, output_dir = _folders(tmp_path)
    every_second = scan_mode_id(engine, "Every second")
    north = _stopped_file_writer(engine, output_dir, every_second, transformers=[api_rule("src")])

    south = engine.ok("POST", "/api/south", folder_scanner_body(input_dir, every_second))
    engine.wait_state("south", south["id"], "RUNNING")
    written = _drop_files(input_dir)
    # The stopped North's cache took every file: the South may delete its sources, nothing is delivered yet.
    wait_for(lambda: not any(input_dir.iterdir()), 60, f"input folder emptied: {engine.log()[-3000:]}")
    assert post_values(engine, batch(0, 10)) == 204
    assert not any(output_dir.iterdir())
    assert not _warnings(engine, south["id"])

    engine.ok("POST", f"/api/north/{north['id']}/start")
    wait_for(lambda: len(list(output_dir.iterdir())) >= FILES + 1, 60, f"delivered: {engine.log()[-3000:]}")
    delivered = {path.name: path.read_bytes() for path in output_dir.iterdir()}
    assert {name: delivered[name] for name in written} == written
    (values_file,) = set(delivered) - set(written)
    assert [value["data"]["value"] for value in json.loads(delivered[values_file])] == list(range(10))


def test_with_no_north_the_files_stay_in_the_input_folder_and_the_api_gets_404(
    engine: EngineProcess, tmp_path: Path
) -> None:
    input_dir, output_dir = tmp_path / "input", tmp_path / "output"
    input_dir.mkdir()
    output_dir.mkdir()
    every_second = scan_mode_id(engine, "Every second")
    south = engine.ok("POST", "/api/south", folder_scanner_body(input_dir, every_second))
    engine.wait_state("south", south["id"], "RUNNING")
    written = _drop_files(input_dir)

    wait_for(lambda: bool(_warnings(engine, south["id"])), 30, f"the warning: {engine.log()[-3000:]}")
    # Later scans find the same files refused again: still there, and no second warning for the same episode.
    wait_for(lambda: _refused_scans(engine, south["id"]) >= 3, 30, "three scans refused")
    assert sorted(path.name for path in input_dir.iterdir()) == sorted(written)
    assert len(_warnings(engine, south["id"])) == 1

    status, answer = engine.request("POST", "/api/content/content?dataSourceId=src", batch(0, 1))
    assert status == 404
    assert "nothing stored" in str(answer)

    # A North appears: the files kept at the source are delivered and leave the input folder.
    settings = {"outputFolder": str(output_dir), "prefix": "", "suffix": ""}
    engine.ok("POST", "/api/north", north_body("files", "file-writer", settings, every_second))
    wait_for(lambda: len(list(output_dir.iterdir())) >= FILES, 60, f"delivered: {engine.log()[-3000:]}")
    wait_for(lambda: not any(input_dir.iterdir()), 30, "input folder emptied")
    assert {path.name: path.read_bytes() for path in output_dir.iterdir()} == written


def test_an_ignore_rule_still_drops_on_purpose(engine: EngineProcess, tmp_path: Path) -> None:
    input_dir, output_dir = tmp_path / "input", tmp_path / "output"
    input_dir.mkdir()
    output_dir.mkdir()
    every_second = scan_mode_id(engine, "Every second")
    south = engine.ok("POST", "/api/south", {**folder_scanner_body(input_dir, every_second), "enabled": False})
    ignore = {"source": {"type": "south", "southId": south["id"]}, "transformerId": "ignore", "options": {}}
    settings = {"outputFolder": str(output_dir), "prefix": "", "suffix": ""}
    north = engine.ok(
        "POST", "/api/north", north_body("files", "file-writer", settings, every_second, transformers=[ignore])
    )
    engine.wait_state("north", north["id"], "RUNNING")
    engine.ok("POST", f"/api/south/{south['id']}/start")
    _drop_files(input_dir)

    wait_for(lambda: not any(input_dir.iterdir()), 60, f"input folder emptied: {engine.log()[-3000:]}")
    assert not any(output_dir.iterdir())
    assert not _warnings(engine, south["id"])


def _refused_scans(engine: EngineProcess, south_id: str) -> int:
    """Scans that found their files refused (the folder scanner warns once per scan)."""
    page = engine.ok("GET", f"/api/logs?scopeIds={south_id}&levels=warn")
    return sum("files kept for next scan" in entry["message"] for entry in page["content"])


def test_a_stopped_north_whose_cache_fills_refuses_the_rest_and_the_source_keeps_it(
    engine: EngineProcess, tmp_path: Path
) -> None:
    input_dir, output_dir = _folders(tmp_path)
    every_second = scan_mode_id(engine, "Every second")
    # maxSize 1 MB: two 400 kB files fit in the stopped North's cache, the third does not.
    north = _stopped_file_writer(engine, output_dir, every_second, throttling={"maxSize": 1})

    south = engine.ok("POST", "/api/south", folder_scanner_body(input_dir, every_second))
    engine.wait_state("south", south["id"], "RUNNING")
    written = {f"big{index}.bin": os.urandom(400 * 1024) for index in range(5)}
    for name, data in written.items():
        (input_dir / name).write_bytes(data)

    wait_for(lambda: bool(_cache_full_warnings(engine, north["id"])), 30, f"cache full: {engine.log()[-3000:]}")
    wait_for(lambda: _refused_scans(engine, south["id"]) >= 3, 30, "three scans find the cache full")
    # The cache filled up to its limit; what left the input folder is in it (a file is acknowledged only once
    # stored), and the rest stays at the source. A batch refused as a whole may leave copies of files that
    # are also still at the source: those are delivered twice (at least once), never lost.
    left = set(written) - {path.name for path in input_dir.iterdir()}
    cached = [entry["contentFile"] for entry in _cache(engine, north["id"])]
    assert 1 <= len(cached) <= 2, cached
    assert len(left) < len(written), "the source keeps what the full cache refused"
    assert left <= {name for name in written if any(name in content for content in cached)}
    assert not any(output_dir.iterdir())
    # The full cache warns once, not at every refused scan.
    assert len(_cache_full_warnings(engine, north["id"])) < _refused_scans(engine, south["id"])

    engine.ok("POST", f"/api/north/{north['id']}/start")
    wait_for(lambda: sorted(path.name for path in output_dir.iterdir()) == sorted(written), 60, "everything delivered")
    wait_for(lambda: not any(input_dir.iterdir()), 30, "input folder emptied")
    assert {path.name: path.read_bytes() for path in output_dir.iterdir()} == written


def _cache_full_warnings(engine: EngineProcess, north_id: str) -> list[str]:
    page = engine.ok("GET", f"/api/logs?scopeIds={north_id}&levels=warn&messageContent=cache%20entry%20refused")
    return [entry["message"] for entry in page["content"] if "cache full" in entry["message"]]


def _cache(engine: EngineProcess, north_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = engine.ok("GET", f"/api/north/{north_id}/cache/search")["cache"]
    return found
