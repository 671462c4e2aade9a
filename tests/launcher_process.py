"""The launcher as a real process for end-to-end tests: start it, read what it logged, stop it, check leftovers."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
from engine_process import EngineProcess, announced_ports

REPO = Path(__file__).resolve().parents[1]


def records(path: Path) -> list[dict[str, Any]]:
    """The JSON lines a test script appended to ``path``."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_until(predicate: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    """Poll ``predicate`` until true; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def api_up(port: int) -> bool:
    """Whether an engine API answers on ``port``."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/engine/status", timeout=1) as answer:
            return bool(200 <= answer.status < 300)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def engine_api(data: Path, output: Callable[[], str], timeout_s: float = 60.0) -> EngineProcess:
    """A client for the engine a launcher runs on ``data``, first started with port 0 (``oibus.init.json``).

    It waits for the engine's ``listening on`` line in ``output`` (the launcher's log) and pins that port as
    ``webServer.port``, so the engines the launcher starts next (restarts, upgrades) listen there again.
    """
    found: dict[str, int] = {}

    def announced() -> bool:
        found.update(announced_ports(output()) or {})
        return "http" in found

    wait_until(announced, "the engine's 'listening on' line", timeout_s)
    api = EngineProcess(data, found["http"])
    wait_until(lambda: api_up(api.port), "the engine API", timeout_s)
    api.pin_port()
    return api


def children(proc: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """The live direct children of ``proc``."""
    try:
        return [child for child in psutil.Process(proc.pid).children() if child.status() != psutil.STATUS_ZOMBIE]
    except psutil.NoSuchProcess:
        return []


class LauncherRun:
    """``python -m launcher`` (or ``command``) with its output in a file; stopped and checked for leftovers."""

    def __init__(
        self, tmp_path: Path, *args: str, command: list[str] | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.log_path = tmp_path / "launcher.log"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [*(command or [sys.executable, "-m", "launcher"]), *args],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )

    def log(self) -> str:
        """Everything the launcher (and the engines it ran) printed so far."""
        return self.log_path.read_text(errors="replace")

    def tree(self) -> list[psutil.Process]:
        """The launcher and every process under it."""
        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def terminate(self, timeout_s: float = 30.0) -> int:
        """SIGTERM the launcher; return its exit code once every process it started is gone."""
        tree = self.tree()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout_s)
        _, alive = psutil.wait_procs(tree, timeout=10)
        assert not alive, f"left behind: {alive}\n{self.log()}"
        return code

    def cleanup(self) -> None:
        """After a failed test: kill whatever is left."""
        for proc in self.tree():
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                continue
        if self.proc.poll() is None:
            self.proc.wait(10)
