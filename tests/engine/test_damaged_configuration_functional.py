"""A damaged ``oibus.db`` is restored from the engine's rolling backup, and never taken for a new install."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from engine_process import EngineProcess

from engine.config.backup import backups


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _garbled(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[0:4096] = b"\xa5" * 4096  # the header page overwritten
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_empty, _truncated, _garbled], ids=lambda d: d.__name__.strip("_"))
def test_a_damaged_oibus_db_is_restored_with_its_connectors(tmp_path: Path, damage: Callable[[Path], None]) -> None:
    data_dir = tmp_path / "data"
    engine = EngineProcess(data_dir, log_level="warn").start()
    try:
        first_id = engine.ok("GET", "/api/engine/info")["oibusId"]
        created = engine.ok("POST", "/api/scan-modes", {"name": "kept", "description": "", "cron": "0 * * * * *"})
    finally:
        assert engine.stop() == 0
    assert backups(data_dir), "a configuration change and a clean start take a backup"
    damage(data_dir / "oibus.db")
    for side in ("oibus.db-wal", "oibus.db-shm"):
        (data_dir / side).unlink(missing_ok=True)
    engine = EngineProcess(data_dir, engine.port, log_level="warn").start()
    try:
        info = engine.ok("GET", "/api/engine/info")
        assert info["oibusId"] == first_id, "the same install, not a new one"
        (line,) = info["configurationRestored"]
        assert "oibus.db was damaged" in line
        assert created["id"] in [mode["id"] for mode in engine.ok("GET", "/api/scan-modes")]
    finally:
        assert engine.stop() == 0
    assert list(data_dir.glob("oibus.db.corrupt-*")), "the damaged file is kept"


def test_an_empty_oibus_db_without_backup_stops_the_engine_with_one_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "oibus.db").write_bytes(b"")
    run = subprocess.run(
        [sys.executable, "-m", "engine", "--config", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 78, run.stderr
    assert "OIBus cannot start" in run.stderr and "no good backup" in run.stderr
    assert "Traceback" not in run.stderr
    assert (data_dir / "oibus.db").stat().st_size == 0, "never recreated as a new install"


def test_a_second_engine_on_the_same_data_folder_says_it_is_in_use(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    engine = EngineProcess(data_dir, log_level="warn").start()
    try:
        run = subprocess.run(
            [sys.executable, "-m", "engine", "--config", str(data_dir)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert run.returncode == 75, run.stderr
        assert f"in use by another OIBus engine (pid {engine.proc.pid if engine.proc else '?'})" in run.stderr
        assert "Traceback" not in run.stderr
    finally:
        assert engine.stop() == 0
