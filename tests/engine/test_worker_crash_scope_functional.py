"""A crash-looping worker's errors are filed under its connector's scope, not ``internal``."""

from __future__ import annotations

from pathlib import Path

import psutil
from engine_process import EngineProcess, folder_scanner_body, running_engine, scan_mode_id, wait_for


def test_a_killed_worker_is_logged_under_its_south(tmp_path: Path) -> None:
    input_dir = tmp_path / "input"
    input_dir.mkdir()
    with running_engine(tmp_path / "data") as engine:
        body = folder_scanner_body(input_dir, scan_mode_id(engine, "Every second"), name="crashy")
        south = engine.ok("POST", "/api/south", body)
        for _ in range(2):  # a loop of crashes: every restart is logged under the South
            _kill_worker(engine, south["id"])

        def restarts() -> list[dict[str, object]]:
            page = engine.ok("GET", f"/api/logs?scopeIds={south['id']}&levels=warn")
            return [entry for entry in page["content"] if "worker exited, restarting" in str(entry["message"])]

        wait_for(lambda: len(restarts()) >= 2, 20, f"restart warnings under the South: {engine.log()[-2000:]}")
        entry = restarts()[0]
        assert (entry["scopeType"], entry["scopeName"]) == ("south", "crashy")
        engine.wait_state("south", south["id"], "RUNNING")


def _zombie(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def _kill_worker(engine: EngineProcess, south_id: str) -> None:
    pid = engine.wait_state("south", south_id, "RUNNING")["state"]["pid"]
    psutil.Process(pid).kill()
    wait_for(lambda: _zombie(pid), 20, "the killed worker gone")
    wait_for(lambda: engine.ok("GET", f"/api/south/{south_id}")["state"]["pid"] != pid, 20, "a new worker")
