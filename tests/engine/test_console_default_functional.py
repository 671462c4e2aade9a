"""A new engine shows the default-password warning on its console without any setting."""

from __future__ import annotations

from pathlib import Path

from engine_process import EngineProcess, wait_for


def test_default_console_shows_warnings_not_info(tmp_path: Path) -> None:
    # An empty OIBUS_LOG_LEVEL leaves the console at the engine settings' default level.
    engine = EngineProcess(tmp_path / "data", env={"OIBUS_LOG_LEVEL": ""}).start()
    try:
        wait_for(lambda: "default_password_in_use" in engine.log(), 20.0, "default-password warning")
        assert engine.ok("GET", "/api/engine")["logger"]["console"]["level"] == "warn"
    finally:
        engine.stop()
    # Once the log pipeline runs, the console prints warnings, not the info lines (before it, start-up
    # lines go to standard error as they come).
    after_start = engine.log().split(" listening on ", 1)[1]
    assert " warn  internal default_password_in_use" in after_start
    assert " info " not in after_start
