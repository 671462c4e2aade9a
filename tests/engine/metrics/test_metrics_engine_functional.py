"""End to end with a real engine: the restart route exits 0, and counters outlive worker and engine restarts."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import psutil
from engine_process import AUTH, EngineProcess, folder_scanner_body, north_body, scan_mode_id, wait_for


def prometheus(engine: EngineProcess, name: str, connector_id: str) -> float | None:
    """One sample of ``GET /metrics``, or None when absent."""
    request = urllib.request.Request(f"{engine.url}/metrics", headers={"Authorization": AUTH})
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read().decode()
    prefix = f'{name}{{id="{connector_id}"}} '
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    return None


def sse_frame(engine: EngineProcess, path: str) -> Any:
    """The first frame of a live stream, opened as a browser does (token in the query)."""
    status, body = engine.request("POST", "/api/users/authentication")
    assert status == 200, body
    query = urllib.parse.urlencode({"token": body["access_token"]})
    with urllib.request.urlopen(f"{engine.url}{path}?{query}", timeout=30) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        while True:
            line = response.readline()
            assert line, "stream ended early"
            if line.startswith(b"data: "):
                return json.loads(line[len(b"data: ") :])


def restart(engine: EngineProcess) -> None:
    """Ask for a restart; the engine must exit 0 by itself (the launcher would start it again)."""
    assert engine.proc is not None
    status, _ = engine.request("POST", "/api/engine/restart")
    assert status == 204
    assert engine.proc.wait(60) == 0, engine.log()
    assert engine.stop() == 0  # only reaps the workers now


def test_restart_endpoint_makes_the_engine_exit_0(tmp_path: Path) -> None:
    engine = EngineProcess(tmp_path / "data").start()
    try:
        restart(engine)
        assert "engine_restart_requested" in engine.log()
    finally:
        if engine.proc is not None and engine.proc.poll() is None:
            engine.stop()


def test_south_counters_survive_a_worker_kill_and_an_engine_restart(tmp_path: Path) -> None:
    data_dir, input_dir = tmp_path / "data", tmp_path / "input"
    input_dir.mkdir()
    engine = EngineProcess(data_dir).start()
    try:
        every_second = scan_mode_id(engine, "Every second")
        # A North to take the files: with none, the South keeps them (and counts nothing retrieved).
        output = {"outputFolder": str(tmp_path / "output"), "prefix": "", "suffix": ""}
        (tmp_path / "output").mkdir()
        engine.ok("POST", "/api/north", north_body("files", "file-writer", output, every_second))
        south = engine.ok("POST", "/api/south", folder_scanner_body(input_dir, every_second))
        south_id = south["id"]

        def retrieved() -> float | None:
            return prometheus(engine, "oibus_south_number_of_files_retrieved", south_id)

        victim = engine.wait_state("south", south_id, "RUNNING")["state"]["pid"]
        for name in ("a.txt", "b.txt"):
            (input_dir / name).write_text(name)
        wait_for(lambda: retrieved() == 2, 30, f"two files counted: {engine.log()[-2000:]}")
        wait_for(lambda: not any(input_dir.iterdir()), 30, "input folder emptied")
        metrics_start = sse_frame(engine, f"/sse/south/{south_id}")["metricsStart"]

        psutil.Process(victim).kill()
        wait_for(lambda: engine.wait_state("south", south_id, "RUNNING")["state"]["pid"] != victim, 30, "a new worker")
        (input_dir / "c.txt").write_text("c")
        wait_for(lambda: retrieved() == 3, 30, "the new worker's file added to the two before")

        restart(engine)
        engine = EngineProcess(data_dir, port=engine.port).start()
        assert retrieved() == 3
        engine.wait_state("south", south_id, "RUNNING")
        (input_dir / "d.txt").write_text("d")
        wait_for(lambda: retrieved() == 4, 30, "counting goes on after the engine restart")
        frame = sse_frame(engine, f"/sse/south/{south_id}")
        assert (frame["numberOfFilesRetrieved"], frame["metricsStart"]) == (4, metrics_start)
        assert frame["lastFileRetrieved"] == "d.txt"
        home = sse_frame(engine, "/sse/home")
        assert home["souths"][south_id]["numberOfFilesRetrieved"] == 4
        assert home["engine"]["currentRss"] > 0
    finally:
        if engine.proc is not None and engine.proc.poll() is None:
            assert engine.stop() == 0, engine.log()
