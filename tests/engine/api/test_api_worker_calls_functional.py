"""Connection tests, item tests, last values and North cache management, end to end on a real engine."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_process import (
    AUTH,
    EngineProcess,
    folder_scanner_body,
    north_body,
    running_engine,
    scan_mode_id,
    wait_for,
)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[EngineProcess]:
    with running_engine(tmp_path / "data") as process:
        yield process


def raw_get(engine: EngineProcess, path: str) -> tuple[int, bytes, dict[str, str]]:
    """A GET whose answer is not JSON: status, body bytes, headers."""
    request = urllib.request.Request(f"{engine.url}{path}", headers={"Authorization": AUTH})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


def search(engine: EngineProcess, north_id: str, query: str = "") -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = engine.ok("GET", f"/api/north/{north_id}/cache/search{query}")
    return found


def by_file(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {entry["contentFile"]: entry for entry in entries}


def on_disk(data_dir: Path, folder: str, north_id: str, name: str) -> bool:
    base = data_dir / folder / f"north-{north_id}"
    return (base / "content" / name).exists() and (base / "metadata" / name).exists()


def test_cache_of_a_north_that_cannot_send_can_be_searched_read_moved_and_removed(
    engine: EngineProcess, tmp_path: Path
) -> None:
    input_dir, missing = tmp_path / "input", tmp_path / "missing"
    input_dir.mkdir()
    (input_dir / "a.csv").write_text("time,value\n1,2\n")
    (input_dir / "b.txt").write_bytes(b"bee")
    every_second = scan_mode_id(engine, "Every second")
    north = engine.ok(
        "POST", "/api/north", north_body("stuck", "file-writer", {"outputFolder": str(missing)}, every_second)
    )
    north_id = north["id"]
    engine.wait_state("north", north_id, "RUNNING")
    south = engine.ok("POST", "/api/south", folder_scanner_body(input_dir, every_second, preserve=True))
    south_id, item_id = south["id"], south["items"][0]["id"]

    # The output folder is missing: both files wait in the cache.
    wait_for(lambda: len(search(engine, north_id)["cache"]) == 2, 30, f"two entries cached: {engine.log()[-3000:]}")
    found = search(engine, north_id)
    assert found["error"] == [] and found["archive"] == []
    cached = by_file(found["cache"])
    assert set(cached) == {"a.csv", "b.txt"}
    a_entry, b_entry = cached["a.csv"], cached["b.txt"]
    assert a_entry["contentSize"] == len("time,value\n1,2\n") and a_entry["contentType"] == "any"
    assert a_entry["numberOfElement"] == 0 and a_entry["createdAt"].endswith("Z")
    assert on_disk(engine.data_dir, "cache", north_id, a_entry["filename"])

    # Search filters: the logical name in any case, the entry name, the limit, the time range.
    assert [e["contentFile"] for e in search(engine, north_id, "?nameContains=A.CSV")["cache"]] == ["a.csv"]
    assert [e["contentFile"] for e in search(engine, north_id, f"?nameContains={b_entry['filename']}")["cache"]] == [
        "b.txt"
    ]
    assert len(search(engine, north_id, "?maxNumberOfFilesReturned=1")["cache"]) == 1
    assert search(engine, north_id, "?end=2000-01-01T00:00:00Z")["cache"] == []
    assert len(search(engine, north_id, "?start=2000-01-01T00:00:00Z")["cache"]) == 2
    assert engine.request("GET", f"/api/north/{north_id}/cache/search?start=yesterday")[0] == 400

    # Content: the bytes, typed from the logical name.
    status, body, headers = raw_get(engine, f"/api/north/{north_id}/cache/content/{a_entry['filename']}?folder=cache")
    assert status == 200 and body == b"time,value\n1,2\n"
    assert headers["Content-Type"].startswith("text/csv")
    assert headers["X-Content-Truncated"] == "false" and headers["X-Content-Size"] == str(len(body))
    assert "a.csv" in headers["Content-Disposition"]
    assert raw_get(engine, f"/api/north/{north_id}/cache/content/{a_entry['filename']}?folder=error")[0] == 404
    assert raw_get(engine, f"/api/north/{north_id}/cache/content/nope?folder=cache")[0] == 404
    assert raw_get(engine, f"/api/north/{north_id}/cache/content/{a_entry['filename']}?folder=bin")[0] == 400

    # The folder scanner keeps its preserved list as the item's value.
    last = engine.ok("GET", f"/api/south/{south_id}/items/{item_id}/last-value")
    assert last["itemId"] == item_id and last["itemName"] == "all files" and last["groupId"] is None
    assert sorted(entry["filename"] for entry in last["value"]) == ["a.csv", "b.txt"]
    assert last["queryTime"].endswith("Z") and last["trackedInstant"] is None
    assert engine.request("GET", f"/api/south/{south_id}/items/ghost/last-value")[0] == 404

    # The connection test names the missing folder; candidate settings are tested instead of the stored ones.
    status, answer = engine.request("POST", f"/api/north/{north_id}/test/connection")
    assert status == 400 and str(missing) in answer["message"] and "does not exist" in answer["message"]
    ok_settings = {"outputFolder": str(tmp_path), "prefix": "", "suffix": ""}
    assert engine.request("POST", f"/api/north/{north_id}/test/connection", ok_settings) == (204, None)
    assert engine.request("POST", f"/api/north/{north_id}/test/connection?northType=console", ok_settings)[0] == 400
    status, answer = engine.request("POST", f"/api/north/{north_id}/test/connection", {"settings": {"prefix": 1}})
    assert status == 400 and set(answer["errors"]) == {"settings.outputFolder", "settings.prefix"}

    # Move a.csv into error/, remove b.txt: the disk follows.
    command = {"cache": {"remove": [b_entry["filename"]], "move": [{"filename": a_entry["filename"], "to": "error"}]}}
    assert engine.request("POST", f"/api/north/{north_id}/cache/update", command) == (204, None)
    found = search(engine, north_id)
    assert found["cache"] == [] and [e["filename"] for e in found["error"]] == [a_entry["filename"]]
    assert on_disk(engine.data_dir, "error", north_id, a_entry["filename"])
    assert not on_disk(engine.data_dir, "cache", north_id, a_entry["filename"])
    assert not on_disk(engine.data_dir, "cache", north_id, b_entry["filename"])
    status, body, _ = raw_get(engine, f"/api/north/{north_id}/cache/content/{a_entry['filename']}?folder=error")
    assert status == 200 and body == b"time,value\n1,2\n"
    bad = {"error": {"move": [{"filename": a_entry["filename"], "to": "bin"}]}}
    assert engine.request("POST", f"/api/north/{north_id}/cache/update", bad)[0] == 400

    assert (
        engine.request("POST", f"/api/north/{north_id}/cache/update", {"error": {"remove": [a_entry["filename"]]}})[0]
        == 204
    )
    assert search(engine, north_id) == {"cache": [], "error": [], "archive": []}
    assert not on_disk(engine.data_dir, "error", north_id, a_entry["filename"])

    # A stopped North has no worker: the engine works on its cache folder itself; tests still need the worker.
    (input_dir / "c.json").write_text("[1]")
    wait_for(lambda: len(search(engine, north_id)["cache"]) == 1, 30, "c.json cached")
    engine.ok("POST", f"/api/north/{north_id}/stop")
    engine.wait_state("north", north_id, "STOPPED")
    (c_entry,) = search(engine, north_id)["cache"]
    assert c_entry["contentFile"] == "c.json"
    status, body, _ = raw_get(engine, f"/api/north/{north_id}/cache/content/{c_entry['filename']}")
    assert (status, body) == (200, b"[1]")
    command = {"cache": {"move": [{"filename": c_entry["filename"], "to": "archive"}]}}
    assert engine.request("POST", f"/api/north/{north_id}/cache/update", command) == (204, None)
    assert on_disk(engine.data_dir, "archive", north_id, c_entry["filename"])
    assert not on_disk(engine.data_dir, "cache", north_id, c_entry["filename"])
    assert engine.request("POST", f"/api/north/{north_id}/test/connection")[0] == 409
    assert engine.request("GET", "/api/north/ghost/cache/search")[0] == 404
    # Started again, its worker finds the folder as the engine left it.
    engine.ok("POST", f"/api/north/{north_id}/start")
    engine.wait_state("north", north_id, "RUNNING")
    found = search(engine, north_id)
    assert found["cache"] == [] and [e["filename"] for e in found["archive"]] == [c_entry["filename"]]


def test_south_connection_and_item_tests_run_in_the_worker_and_touch_nothing(
    engine: EngineProcess, tmp_path: Path
) -> None:
    watched, probe = tmp_path / "watched", tmp_path / "probe"
    watched.mkdir()
    probe.mkdir()
    (probe / "old.csv").write_text("1")
    (probe / "new.csv").write_text("2")
    (probe / "skip.txt").write_text("3")
    hourly = scan_mode_id(engine, "Every hour")
    south = engine.ok("POST", "/api/south", folder_scanner_body(watched, hourly))
    south_id, item_id = south["id"], south["items"][0]["id"]
    engine.wait_state("south", south_id, "RUNNING")

    assert engine.request("POST", f"/api/south/{south_id}/test/connection") == (204, None)
    assert engine.request("POST", f"/api/south/{south_id}/test/connection", {}) == (204, None)
    gone = tmp_path / "gone"
    status, answer = engine.request(
        "POST",
        f"/api/south/{south_id}/test/connection",
        {"type": "folder-scanner", "settings": {"inputFolder": str(gone)}},
    )
    assert status == 400 and answer == {"message": f"input folder {gone} does not exist"}

    # The item test lists what the item would take from the probe folder, and deletes nothing.
    item_settings = {"regex": r"\.csv$", "minAge": 0, "preserveFiles": False}
    body = {"southSettings": {"inputFolder": str(probe)}, "itemSettings": item_settings}
    result = engine.ok("POST", f"/api/south/{south_id}/items/test?itemName=csv%20files&southType=folder-scanner", body)
    assert result["type"] == "time-values"
    assert sorted(value["data"]["value"] for value in result["content"]) == ["new.csv", "old.csv"]
    assert {value["pointId"] for value in result["content"]} == {"csv files"}
    assert all(value["timestamp"].endswith("Z") for value in result["content"])
    assert sorted(path.name for path in probe.iterdir()) == ["new.csv", "old.csv", "skip.txt"]
    assert engine.request("GET", f"/api/south/{south_id}/items/{item_id}/last-value")[0] == 404

    # A failing read answers 400 with the connector's message; bad item settings name their fields.
    status, answer = engine.request(
        "POST",
        f"/api/south/{south_id}/items/test",
        {"southSettings": {"inputFolder": str(gone)}, "itemSettings": item_settings},
    )
    assert status == 400 and str(gone) in answer["message"]
    status, answer = engine.request(
        "POST", f"/api/south/{south_id}/items/test", {"itemSettings": {"regex": ".*", "minAge": -1}}
    )
    assert status == 400 and answer["errors"] == {"itemSettings.minAge": "Expected `int` >= 0"}
    window = {"history": {"startTime": "2024-01-02T00:00:00Z", "endTime": "2024-01-01T00:00:00Z"}}
    status, answer = engine.request(
        "POST", f"/api/south/{south_id}/items/test", {"itemSettings": item_settings, "testingSettings": window}
    )
    assert status == 400 and "testingSettings.history.endTime" in answer["errors"]

    engine.ok("POST", f"/api/south/{south_id}/stop")
    engine.wait_state("south", south_id, "STOPPED")
    status, answer = engine.request("POST", f"/api/south/{south_id}/items/test", body)
    assert status == 409 and "is not running" in answer["message"]
    assert sorted(path.name for path in probe.iterdir()) == ["new.csv", "old.csv", "skip.txt"]
