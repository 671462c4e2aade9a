"""The launcher against real processes: the real engine (restart after kill -9, graceful stop) and crash loops."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
from engine_process import EngineProcess, north_body
from launcher_process import LauncherRun, api_up, children, engine_api, records, wait_until

from engine.config.provisioning import InitSettings
from engine.config.store import ConfigStore

REPO = Path(__file__).resolve().parents[2]

# Every engine start is recorded (pid, argv), and so is every exit the script sees (pid, code).
ENGINE_WRAPPER = """\
import json, os, sys
def record(**fields):
    with open(RECORD, "a") as out:
        out.write(json.dumps({"pid": os.getpid(), **fields}) + "\\n")
record(argv=sys.argv[1:])
from engine.cli import main
try:
    main()
except SystemExit as exit:
    record(exit=exit.code)
    raise
"""

# Crashes at once, except in safe mode (when SAFE_RUNS) where it runs until SIGTERM like an engine.
CRASHER = """\
import json, os, signal, sys, time
def record(**fields):
    with open(RECORD, "a") as out:
        out.write(json.dumps({"pid": os.getpid(), **fields}) + "\\n")
record(argv=sys.argv[1:])
if SAFE_RUNS and "--safe-mode" in sys.argv:
    def stop(signum, frame):
        record(exit=0)
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    record(ready=True)
    while True:
        time.sleep(0.05)
sys.exit(1)
"""


def script(tmp_path: Path, name: str, body: str, **constants: Any) -> Path:
    """An executable Python script (the launcher's ``--engine`` takes one executable path)."""
    path = tmp_path / name
    header = "".join(f"{key} = {value!r}\n" for key, value in constants.items())
    path.write_text(f"#!{sys.executable}\n{header}{body}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def engine_launcher(tmp_path: Path, launchers: list[LauncherRun]) -> tuple[LauncherRun, EngineProcess, Path]:
    """A launcher running the real engine on a port the system assigns (port 0 in ``oibus.init.json``)."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "oibus.init.json").write_text(json.dumps({"port": 0}))
    record = tmp_path / "engine.jsonl"
    wrapper = script(tmp_path, "oibus-engine", ENGINE_WRAPPER, RECORD=str(record))
    run = LauncherRun(
        tmp_path,
        "--config",
        str(data),
        "--engine",
        str(wrapper),
        "--stable-after",
        "1",
        "--backoff-initial",
        "0.1",
        "--backoff-max",
        "0.5",
        "--stop-timeout",
        "30",
    )
    launchers.append(run)
    # An API client only: the launcher owns the engine process.
    api = engine_api(data, run.log)
    return run, api, record


def add_console_north(api: EngineProcess) -> str:
    modes = api.ok("GET", "/api/scan-modes")
    every_second = next(mode["id"] for mode in modes if mode["name"] == "Every second")
    north = api.ok("POST", "/api/north", north_body("console", "console", {}, every_second))
    north_id = str(north["id"])
    api.wait_state("north", north_id, "RUNNING")
    return north_id


def test_engine_killed_with_sigkill_comes_back(tmp_path: Path, launchers: list[LauncherRun]) -> None:
    run, api, record = engine_launcher(tmp_path, launchers)
    north_id = add_console_north(api)
    (first,) = children(run.proc)
    old_workers = first.children()
    assert len(old_workers) == 1

    first.kill()
    wait_until(lambda: [c.pid for c in children(run.proc)] not in ([], [first.pid]), "a new engine process")
    wait_until(lambda: api_up(api.port), "the API of the new engine")
    (second,) = children(run.proc)
    assert second.pid != first.pid
    restored = api.wait_state("north", north_id, "RUNNING")
    assert restored["state"]["restarts"] == 0  # a fresh engine, not a restarted worker
    # The old engine's worker saw its pipes close and left on its own.
    _, alive = psutil.wait_procs(old_workers, timeout=10)
    assert not alive
    new_workers = second.children()
    assert len(new_workers) == 1
    assert new_workers[0].pid != old_workers[0].pid

    assert run.terminate() == 0
    starts = [entry for entry in records(record) if "argv" in entry]
    assert [entry["pid"] for entry in starts] == [first.pid, second.pid]
    assert [entry for entry in records(record) if "exit" in entry] == [{"pid": second.pid, "exit": 0}]
    assert "--safe-mode" not in starts[1]["argv"]


def test_sigterm_stops_launcher_engine_and_workers_gracefully(tmp_path: Path, launchers: list[LauncherRun]) -> None:
    run, api, record = engine_launcher(tmp_path, launchers)
    add_console_north(api)
    tree = run.tree()
    assert len(tree) == 3  # launcher, engine, North worker
    (engine,) = children(run.proc)

    assert run.terminate() == 0
    assert not [proc for proc in tree if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE]
    (start,) = [entry for entry in records(record) if "argv" in entry]
    argv = start["argv"]
    assert argv[:2] == ["--config", str((tmp_path / "data").resolve())]
    assert "--launcherVersion" in argv
    assert [entry for entry in records(record) if "exit" in entry] == [{"pid": engine.pid, "exit": 0}]
    log = run.log()
    assert "did not stop in time" not in log
    assert "STOPPING -> STOPPED" in log
    assert not api_up(api.port)


def fast_restarts(tmp_path: Path, engine: Path) -> LauncherRun:
    """A launcher running ``engine`` with near-immediate restarts and a long stability window."""
    return LauncherRun(
        tmp_path,
        "--config",
        str(tmp_path / "data"),
        "--engine",
        str(engine),
        "--stable-after",
        "30",
        "--backoff-initial",
        "0.01",
        "--backoff-max",
        "0.05",
    )


def test_crash_loop_ends_in_safe_mode(tmp_path: Path, launchers: list[LauncherRun]) -> None:
    record = tmp_path / "runs.jsonl"
    crasher = script(tmp_path, "crasher", CRASHER, RECORD=str(record), SAFE_RUNS=True)
    run = fast_restarts(tmp_path, crasher)
    launchers.append(run)
    wait_until(lambda: any("ready" in entry for entry in records(record)), "a safe-mode engine that stays up")
    starts = [entry for entry in records(record) if "argv" in entry]
    assert ["--safe-mode" in entry["argv"] for entry in starts] == [False] * 5 + [True]
    (engine,) = children(run.proc)
    assert engine.pid == starts[-1]["pid"]

    assert run.terminate() == 0
    assert records(record)[-1] == {"pid": engine.pid, "exit": 0}
    assert "restarting it in safe mode" in run.log()


def test_crash_loop_in_safe_mode_gives_up(tmp_path: Path, launchers: list[LauncherRun]) -> None:
    record = tmp_path / "runs.jsonl"
    crasher = script(tmp_path, "crasher", CRASHER, RECORD=str(record), SAFE_RUNS=False)
    run = fast_restarts(tmp_path, crasher)
    launchers.append(run)
    assert run.proc.wait(30) == 1, run.log()
    starts = [entry for entry in records(record) if "argv" in entry]
    assert ["--safe-mode" in entry["argv"] for entry in starts] == [False] * 5 + [True] * 5
    assert "giving up" in run.log()
    assert children(run.proc) == []


# Crashes five times, then (in safe mode) asks for a restart by exiting 0, then stays up in normal mode.
RESTARTER = """\
import json, os, signal, sys, time
def record(**fields):
    with open(RECORD, "a") as out:
        out.write(json.dumps({"pid": os.getpid(), **fields}) + "\\n")
record(argv=sys.argv[1:])
if "--safe-mode" in sys.argv:
    sys.exit(0)
with open(RECORD) as runs:
    if sum(1 for line in runs if "argv" in line) <= 5:
        sys.exit(1)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
record(ready=True)
while True:
    time.sleep(0.05)
"""


def test_requested_restart_leaves_safe_mode(tmp_path: Path, launchers: list[LauncherRun]) -> None:
    record = tmp_path / "runs.jsonl"
    restarter = script(tmp_path, "restarter", RESTARTER, RECORD=str(record))
    run = fast_restarts(tmp_path, restarter)
    launchers.append(run)
    wait_until(lambda: any("ready" in entry for entry in records(record)), "a normal engine after the restart")
    starts = [entry for entry in records(record) if "argv" in entry]
    assert ["--safe-mode" in entry["argv"] for entry in starts] == [False] * 5 + [True, False]
    assert "leaving safe mode" in run.log()
    assert run.terminate() == 0


def test_version_prints_and_exits(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "launcher", "--version"], cwd=REPO, capture_output=True, timeout=30, check=False
    )
    assert done.returncode == 0
    assert done.stdout.decode().startswith("OIBus launcher version: ")
    assert not (tmp_path / "data").exists()


def test_reset_password_gives_admin_its_default_password_back(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = ConfigStore.open(data, init=InitSettings(admin_password="forgotten"))
    try:
        assert store.users.password_hash("admin") is not None
    finally:
        store.close()

    done = subprocess.run(
        [sys.executable, "-m", "launcher", "--config", str(data), "--reset-password"],
        cwd=REPO,
        capture_output=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert "password 'pass'" in done.stdout.decode()
    store = ConfigStore.open(data, init=None)
    try:
        found = store.users.password_hash("admin")
        assert found is not None
        assert store.users.verify_password(found[1], "pass")
        assert not store.users.verify_password(found[1], "forgotten")
    finally:
        store.close()


def test_killing_the_launcher_alone_stops_engine_and_workers(tmp_path: Path, launchers: list[LauncherRun]) -> None:
    run, api, _ = engine_launcher(tmp_path, launchers)
    add_console_north(api)
    tree = run.tree()
    assert len(tree) == 3  # launcher, engine, North worker

    run.proc.kill()
    run.proc.wait(10)
    # The engine sees its launcher gone, stops gracefully, and its worker follows when its pipes close.
    _, alive = psutil.wait_procs(tree[1:], timeout=15)
    assert not alive, f"orphaned: {alive}\n{run.log()}"

    again = LauncherRun(tmp_path, *run.proc.args[3:])  # type: ignore[index]
    launchers.append(again)
    wait_until(lambda: api_up(api.port), "the API of the engine of a new launcher on the same data folder")
    assert again.terminate() == 0
    assert "address already in use" not in again.log() and "in use by another" not in again.log()


def test_a_damaged_configuration_without_backup_makes_the_launcher_give_up(
    tmp_path: Path, launchers: list[LauncherRun]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "oibus.db").write_bytes(b"")  # damaged, and no backup/ folder to restore it from
    record = tmp_path / "engine.jsonl"
    wrapper = script(tmp_path, "oibus-engine", ENGINE_WRAPPER, RECORD=str(record))
    run = LauncherRun(tmp_path, "--config", str(data), "--engine", str(wrapper), "--backoff-initial", "0.01")
    launchers.append(run)
    assert run.proc.wait(60) == 78, run.log()
    exits = [entry["exit"] for entry in records(record) if "exit" in entry]
    assert exits == [78, 78, 78], "a few tries, then it stops (safe mode cannot repair a damaged file)"
    starts = [entry for entry in records(record) if "argv" in entry]
    assert not any("--safe-mode" in entry["argv"] for entry in starts)
    log = run.log()
    giving_up = [line for line in log.splitlines() if "giving up" in line]
    assert len(giving_up) == 1 and "configuration (oibus.db or crypto.db) is damaged" in giving_up[0], log
    assert "Traceback" not in log
    assert "-> FATAL" in log
    assert (data / "oibus.db").stat().st_size == 0, "never recreated as a new install"
    assert children(run.proc) == []
