"""A full disk under ``logs/`` at start: the engine starts degraded, says so, and recovers by itself.

``logs/`` is a tmpfs the test mounts (CI runs as root) and fills before the engine starts, so neither
``logs.db`` nor ``metrics.db`` can be created. The engine used to exit at start (and the launcher retried
forever); it must start with the API and the UI up, state each missing store in its log and in
``GET /api/engine/info`` (``unavailableStores``), answer 503 where a route needs the missing store, and
open both once space is freed, without a restart.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from disk_support import fill, small_file_system
from engine_process import EngineProcess, wait_for

NO_SPACE = "no space left on the data folder's disk"


def _unavailable(engine: EngineProcess) -> list[str]:
    info: dict[str, Any] = engine.ok("GET", "/api/engine/info")
    stores: list[str] = info["unavailableStores"]
    return stores


def _wait_for_line(engine: EngineProcess, line: str) -> None:
    # The console reaches the log file when the engine's output buffer is flushed: wait for it.
    wait_for(lambda: line in engine.log(), 30, f"{line}: {engine.log()[-3000:]}")


def test_a_full_logs_disk_at_start_starts_degraded_and_recovers_without_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    engine = EngineProcess(data)
    # A first start on the ordinary disk writes the configuration; then logs/ moves to a small file system.
    engine.start()
    engine.pin_port()
    assert engine.stop() == 0, engine.log()
    shutil.rmtree(data / "logs")
    with small_file_system(data / "logs", size="1m") as logs:
        filler = fill(logs)
        engine.start()
        try:
            pid = engine.proc.pid if engine.proc is not None else None
            stores = _unavailable(engine)
            assert [line.split(":", 1)[0] for line in stores] == ["logs.db", "metrics.db"], stores
            assert all(NO_SPACE in line for line in stores), stores
            # At most an empty file (an inode is still free): nothing was written, nothing is taken for damage.
            assert all(
                not path.exists() or path.stat().st_size == 0 for path in (logs / "logs.db", logs / "metrics.db")
            )
            # The API and the UI answer; what needs the missing store says why, as a 503.
            status, answer = engine.request("GET", "/api/logs")
            assert status == 503, answer
            assert "logs.db" in answer["message"] and NO_SPACE in answer["message"], answer
            assert engine.ok("GET", "/api/scan-modes")
            status, _ = engine.request("GET", "/api/engine/metrics/history")
            assert status == 200
            for store in ("logs.db", "metrics.db"):
                line = f"store_unavailable store={store}"
                _wait_for_line(engine, line)

            filler.unlink()
            wait_for(lambda: _unavailable(engine) == [], 30, f"stores opened again: {engine.log()[-3000:]}")
            assert (logs / "logs.db").is_file() and (logs / "metrics.db").is_file()
            status, answer = engine.request("GET", "/api/logs")
            assert status == 200, answer
            for store in ("logs.db", "metrics.db"):
                line = f"store_available_again store={store}"
                _wait_for_line(engine, line)
            # Log lines reach logs.db again (the sink retries on its own).
            wait_for(
                lambda: engine.ok("GET", "/api/logs")["totalElements"] > 0, 30, f"lines in logs.db: {engine.log()}"
            )
            assert engine.proc is not None and engine.proc.pid == pid, "recovered without a restart"
            for store in ("logs.db", "metrics.db"):
                # Once per episode: each retry that failed again (one a second for metrics.db) said nothing more.
                assert engine.log().count(f"store_unavailable store={store}") == 1, engine.log()[-3000:]
        finally:
            assert engine.stop() == 0, engine.log()[-5000:]
