"""Suite-wide fixtures: the leak guard (no child process may outlive its test) and service checks."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator

import psutil
import pytest
from launcher_process import LauncherRun
from release_build import Release, shared_release


def _children() -> set[int]:
    try:
        return {child.pid for child in psutil.Process().children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


@pytest.fixture(autouse=True)
def no_leaked_processes() -> Iterator[None]:
    """Fail a test that leaves child processes behind (and kill them so the next test starts clean)."""
    before = _children()
    yield
    deadline = time.monotonic() + 10.0
    leaked = _children() - before
    while leaked and time.monotonic() < deadline:
        time.sleep(0.1)
        leaked = {pid for pid in leaked if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"}
    if leaked:
        names = []
        for pid in leaked:
            try:
                proc = psutil.Process(pid)
                names.append(f"{pid}:{' '.join(proc.cmdline()[:4])}")
                proc.kill()
            except psutil.NoSuchProcess:
                continue
        if names:
            pytest.fail(f"test left child processes behind: {names}")


def require_service(name: str, host: str, port: int) -> None:
    """Skip when a system service is unreachable, or fail when ``OIBUS_REQUIRE_SERVICES=1`` (CI)."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return
    except OSError as err:
        reason = f"{name} not reachable on {host}:{port} ({err})"
    if os.environ.get("OIBUS_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}; OIBUS_REQUIRE_SERVICES=1 forbids skipping")
    pytest.skip(reason)


@pytest.fixture
def launchers() -> Iterator[list[LauncherRun]]:
    """Launcher processes a test starts; whatever is left of them is killed at the end."""
    runs: list[LauncherRun] = []
    yield runs
    for run in runs:
        run.cleanup()


@pytest.fixture(scope="session")
def release(tmp_path_factory: pytest.TempPathFactory) -> Release:
    """The release bundles built from this checkout (one PyInstaller build per run, see ``release_build``)."""
    return shared_release(tmp_path_factory)
