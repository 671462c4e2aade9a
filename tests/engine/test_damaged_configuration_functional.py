"""Damaged databases across a real restart: the configuration restored, the rebuildable stores recreated.

``oibus.db`` and ``crypto.db`` come back from the rolling backup with every connector and secret and are never
taken for a new install; ``logs.db``, ``metrics.db`` and ``cache.db`` are recreated with the loss logged; the
engine runs.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from engine_process import EngineProcess, folder_scanner_body, north_body, scan_mode_id

from engine.config.backup import backups
from engine.config.store import ConfigStore


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


NORTH_SECRET = "n0rth-restored-pw-4c1e"
SOUTH_SECRET = "s0uth-restored-pw-9a7d"


def _connectors_with_secrets(engine: EngineProcess, tmp_path: Path) -> tuple[str, str]:
    """A North and a South, each with a secret, created through the API (each change takes a backup)."""
    every_second = scan_mode_id(engine, "Every second")
    settings = {"outputFolder": str(tmp_path / "out"), "username": "svc", "password": NORTH_SECRET}
    north = engine.ok("POST", "/api/north", {**north_body("kept-north", "file-writer", settings, every_second)})
    south_settings = {
        "url": "mqtt://127.0.0.1:9",
        "authentication": {"type": "basic", "username": "u", "password": SOUTH_SECRET},
    }
    south = engine.ok(
        "POST",
        "/api/south",
        {"name": "kept-south", "type": "mqtt", "description": "", "enabled": False, "settings": south_settings},
    )
    return str(north["id"]), str(south["id"])


# oibus.db's three damages are above; here each of crypto.db's, and one of oibus.db with secrets in it.
@pytest.mark.parametrize(
    ("name", "damage"),
    [("oibus.db", _garbled), ("crypto.db", _empty), ("crypto.db", _truncated), ("crypto.db", _garbled)],
    ids=["oibus.db-garbled", "crypto.db-empty", "crypto.db-truncated", "crypto.db-garbled"],
)
def test_a_restored_configuration_keeps_every_connector_and_secret(
    tmp_path: Path, name: str, damage: Callable[[Path], None]
) -> None:
    data_dir = tmp_path / "data"
    engine = EngineProcess(data_dir, log_level="warn").start()
    try:
        north_id, south_id = _connectors_with_secrets(engine, tmp_path)
    finally:
        assert engine.stop() == 0
    damage(data_dir / name)
    for side in (f"{name}-wal", f"{name}-shm"):
        (data_dir / side).unlink(missing_ok=True)
    engine = EngineProcess(data_dir, engine.port, log_level="warn").start()
    try:
        (line,) = engine.ok("GET", "/api/engine/info")["configurationRestored"]
        assert line.startswith(f"{name} was damaged")
        assert {north["name"] for north in engine.ok("GET", "/api/north")} == {"kept-north"}
        assert {south["name"] for south in engine.ok("GET", "/api/south")} == {"kept-south"}
        engine.wait_state("north", north_id, "RUNNING")
    finally:
        assert engine.stop() == 0
    assert "Traceback" not in engine.log()
    # The secrets decrypt to what was given: the key of the restored (or kept) crypto.db matches oibus.db.
    with ConfigStore.open(data_dir, init=None) as store:
        assert store.norths.get_north(north_id).settings["password"] == NORTH_SECRET
        assert store.souths.get_south(south_id).settings["authentication"]["password"] == SOUTH_SECRET


def test_a_damaged_crypto_db_without_backup_stops_the_engine_with_one_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    engine = EngineProcess(data_dir, log_level="warn").start()
    assert engine.stop() == 0
    shutil.rmtree(data_dir / "backup")
    _garbled(data_dir / "crypto.db")
    run = subprocess.run(
        [sys.executable, "-m", "engine", "--config", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 78, run.stderr
    (line,) = [line for line in run.stderr.splitlines() if line.strip()]
    assert line.startswith("OIBus cannot start") and "crypto.db is damaged" in line
    assert not list(data_dir.glob("crypto.db.corrupt-*")), "left as found, for the operator's own backup"


def _fill(path: Path) -> None:
    """Grow a store past a few pages and fold its WAL in, so that a cut really cuts content."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS padding (x TEXT)")
        conn.executemany("INSERT INTO padding VALUES (?)", [("x" * 200,)] * 2000)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


REBUILDABLE = ("logs/logs.db", "logs/metrics.db", "cache/cache.db")


@pytest.mark.parametrize("damage", [_empty, _truncated, _garbled], ids=lambda d: d.__name__.strip("_"))
def test_damaged_rebuildable_stores_are_recreated_and_the_engine_runs(
    tmp_path: Path, damage: Callable[[Path], None]
) -> None:
    data_dir, inbox = tmp_path / "data", tmp_path / "in"
    inbox.mkdir()
    engine = EngineProcess(data_dir).start()
    try:
        every_second = scan_mode_id(engine, "Every second")
        south_id = str(engine.ok("POST", "/api/south", folder_scanner_body(inbox, every_second))["id"])
        engine.wait_state("south", south_id, "RUNNING")  # its worker opened cache/cache.db
    finally:
        assert engine.stop() == 0
    for relative in REBUILDABLE:
        path = data_dir / relative
        assert path.exists(), relative
        _fill(path)
        damage(path)
        for side in ("-wal", "-shm"):
            path.with_name(path.name + side).unlink(missing_ok=True)
    engine = EngineProcess(data_dir, engine.port).start()
    try:
        south = engine.wait_state("south", south_id, "RUNNING")
        assert south["state"]["restarts"] == 0, "no crash loop"
        assert engine.ok("GET", "/api/logs?page=0")["content"] is not None  # logs.db answers again
    finally:
        assert engine.stop() == 0
    log = engine.log()
    assert "Traceback" not in log
    if damage is _empty:
        return  # An empty file is an empty database: nothing to move aside, nothing lost.
    for relative in REBUILDABLE:
        path = data_dir / relative
        assert list(path.parent.glob(f"{path.name}.corrupt-*")), f"{relative} kept aside"
        assert str(path) in log, f"the loss of {relative} is stated in the log"
