"""Run a real engine process on a port the system assigns for end-to-end tests, and talk to its REST API."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import psutil

AUTH = "Basic " + b64encode(b"admin:pass").decode()


ANNOUNCE = re.compile(r"listening on (https?://localhost:\d+(?: and https?://localhost:\d+)?)")


def announced_ports(output: str) -> dict[str, int] | None:
    """``{"http": port, "https": port}`` from the last ``listening on`` line an engine printed, if any."""
    found = ANNOUNCE.findall(output)
    if not found:
        return None
    ports: dict[str, int] = {}
    for url in found[-1].split(" and "):
        scheme, _, port = url.partition("://localhost:")
        ports[scheme] = int(port)
    return ports


@contextlib.contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections for as long as the block runs.

    The socket is bound (so nobody else can take the port) but never listens: a connection gets a reset,
    exactly as a host with nothing on that port answers.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        yield port


class EngineProcess:
    """``python -m engine --config <data_dir>``; on a first start it listens on the port the system gives.

    ``oibus.init.json`` says port 0 unless ``port`` is given; ``start`` reads the port from the engine's
    ``listening on`` line, so no test ever guesses a free port. A restart on the same data folder gets a new
    port, unless the test pinned one (``pin_port``).
    """

    def __init__(
        self,
        data_dir: Path,
        port: int = 0,
        *,
        log_level: str = "info",
        tls: ssl.SSLContext | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = port
        """Where the API answers: the first-start port until ``start`` learns the one the engine got."""
        self.log_level = log_level
        self.tls = tls
        """With a client TLS context, talk HTTPS to the engine's ``webServer.https`` listener."""
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}-engine.log"

    def pin_port(self) -> None:
        """Store the port the engine got as ``webServer.port``, so its next starts listen there again."""
        self.ok("PUT", "/api/engine/web-server", {"port": self.port})

    @property
    def url(self) -> str:
        """Base URL of the API."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def start(self, *, timeout_s: float = 20.0) -> EngineProcess:
        """Spawn the engine and wait until its API answers."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not (self.data_dir / "oibus.db").exists():
            (self.data_dir / "oibus.init.json").write_text(json.dumps({"port": self.port}))
        env = {**os.environ, "OIBUS_LOG_LEVEL": self.log_level, **self.env}
        # The log file keeps previous starts: only the line this start prints tells where it listens now.
        printed = len(self.log())
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "engine", "--config", str(self.data_dir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"engine exited with {self.proc.returncode}: {self.log()}")
            ports = announced_ports(self.log()[printed:])
            if ports is None:
                time.sleep(0.05)
                continue
            self.port = ports["https" if self.tls else "http"]
            try:
                with urllib.request.urlopen(f"{self.url}/api/engine/status", timeout=1, context=self.tls):
                    return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        raise TimeoutError(f"engine API not up after {timeout_s} s: {self.log()}")

    def log(self) -> str:
        """Everything the engine printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tree(self) -> list[psutil.Process]:
        """The engine and its workers."""
        if self.proc is None:
            return []
        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGTERM and wait; return the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout_s)
        self._reap_workers()
        return code

    def kill_tree(self) -> None:
        """Kill -9 the engine and every worker at once (a power cut, as far as processes go)."""
        procs = self.tree()
        for proc in procs:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                continue
        psutil.wait_procs(procs, timeout=10)
        if self.proc is not None:
            self.proc.wait(10)

    def _reap_workers(self) -> None:
        """Workers exit when the engine's pipes close; wait for them so no test leaks a process."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            alive = [p for p in psutil.process_iter(["cmdline"]) if _is_worker_of(p, self.data_dir)]
            if not alive:
                return
            time.sleep(0.1)

    def request(self, method: str, path: str, body: Any = None, *, auth: bool = True) -> tuple[int, Any]:
        """One JSON API call; returns (status, decoded body or None)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if auth:
            req.add_header("Authorization", AUTH)
        try:
            with urllib.request.urlopen(req, timeout=60, context=self.tls) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as err:
            raw = err.read()
            return err.code, json.loads(raw) if raw else None

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        """A call that must succeed."""
        status, answer = self.request(method, path, body)
        assert 200 <= status < 300, f"{method} {path} -> {status} {answer}"
        return answer

    def wait_state(self, kind: str, connector_id: str, state: str, timeout_s: float = 20.0) -> dict[str, Any]:
        """Wait until a connector's worker reaches ``state``."""
        deadline = time.monotonic() + timeout_s
        found: Any = None
        while time.monotonic() < deadline:
            found = self.ok("GET", f"/api/{kind}/{connector_id}")
            if (found.get("state") or {}).get("state") == state:
                return dict(found)
            time.sleep(0.05)
        raise TimeoutError(f"{kind} {connector_id} not {state}: {found and found.get('state')}")


def _is_worker_of(proc: psutil.Process, data_dir: Path) -> bool:
    del data_dir
    try:
        return "engine.worker" in " ".join(proc.info["cmdline"] or []) and proc.ppid() == 1
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def north_body(name: str, type_: str, settings: dict[str, Any], scan_mode: str, **caching: Any) -> dict[str, Any]:
    """A North create body with test caching: send back to back (thresholds of 1, no delay)."""
    trigger = {"scanModeId": scan_mode, "numberOfElements": 1, "numberOfFiles": 1}
    trigger.update(caching.pop("trigger", {}))
    return {
        "name": name,
        "type": type_,
        "description": "",
        "enabled": True,
        "settings": settings,
        "caching": {
            "trigger": trigger,
            "throttling": {
                "runMinDelay": 0,
                "maxSize": 0,
                "maxNumberOfElements": 10000,
                **caching.pop("throttling", {}),
            },
            "error": {"retryInterval": 200, "retryCount": 3, "retentionDuration": 0, **caching.pop("error", {})},
            "archive": {"enabled": False, "retentionDuration": 0},
        },
        "transformers": caching.pop("transformers", []),
    }


def modbus_south_body(name: str, port: int, scan_mode: str) -> dict[str, Any]:
    """A Modbus South on ``127.0.0.1:port`` with one item (holding register 0): one read request per scan."""
    return {
        "name": name,
        "type": "modbus",
        "description": "",
        "enabled": True,
        "settings": {"host": "127.0.0.1", "port": port, "networkTimeout": 1000},
        "items": [{"name": "level", "enabled": True, "scanModeId": scan_mode, "settings": {"address": "0"}}],
        "groups": [],
    }


def opcua_south_body(name: str, url: str, read_timeout_ms: int = 5000) -> dict[str, Any]:
    """An OPC UA South on ``url`` with no item (browsing needs none)."""
    settings = {"url": url, "readTimeout": read_timeout_ms}
    return {
        "name": name,
        "type": "opcua",
        "description": "",
        "enabled": True,
        "settings": settings,
        "items": [],
        "groups": [],
    }


def api_rule(data_source: str, transformer: str = "iso", mapping: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A North routing rule taking API content posted under ``data_source``, as it is or through ``transformer``."""
    return {
        "source": {"type": "oibus-api", "dataSourceId": data_source},
        "transformerId": transformer,
        "options": {"mapping": mapping} if mapping is not None else {},
    }


async def until(
    condition: Callable[[], Awaitable[bool]], within_s: float = 30.0, *, explain: Callable[[], str] | None = None
) -> None:
    """Poll an async ``condition`` (the timeout only guards a hang; nothing is asserted on timings).

    ``explain`` (an engine's ``log``, say) gives what the failure message ends with: a timeout in CI then shows
    what the engine and its workers said, where the test's folders are long gone.
    """
    try:
        async with asyncio.timeout(within_s):
            while not await condition():  # noqa: ASYNC110 (a peer server offers no event for a write)
                await asyncio.sleep(0.05)
    except TimeoutError as err:
        if explain is None:
            raise
        raise TimeoutError(f"{condition} not met within {within_s} s; last lines:\n{explain()[-8000:]}") from err


def batch(start: int, size: int) -> dict[str, Any]:
    """A ``/api/content/content`` body of ``size`` time-values of point ``p`` valued ``start``...``start+size-1``."""
    return {
        "type": "time-values",
        "content": [
            {"pointId": "p", "timestamp": "2026-01-01T00:00:00.000Z", "data": {"value": n}}
            for n in range(start, start + size)
        ],
    }


def post_values(engine: EngineProcess, body: dict[str, Any], data_source: str = "src") -> int:
    """POST ``body`` to the engine's ``/api/content/content``; the status (0 when unreachable)."""
    req = urllib.request.Request(
        f"{engine.url}/api/content/content?dataSourceId={data_source}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": AUTH, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0


def latest_values(folder: Path) -> dict[str, str]:
    """The newest value of each point (by its timestamp) in the JSON files a file-writer North wrote into ``folder``.

    By timestamp, not by file: the files are named after cache entries, whose ids are random, so the name order
    says nothing of which was written last (a test waiting for a value written after a restart could otherwise read
    an older file's value forever).
    """
    newest: dict[str, tuple[str, str]] = {}
    for path in folder.glob("*.json"):
        for value in json.loads(path.read_text()):
            point, stamp = value["pointId"], value["timestamp"]
            if point not in newest or stamp >= newest[point][0]:
                newest[point] = (stamp, value["data"]["value"])
    return {point: found for point, (_, found) in newest.items()}


def scan_mode_id(engine: EngineProcess, name: str) -> str:
    """Id of the scan mode called ``name`` (seeded ones have random ids)."""
    modes = engine.ok("GET", "/api/scan-modes")
    return str(next(mode["id"] for mode in modes if mode["name"] == name))


def folder_scanner_body(
    input_dir: Path, scan_mode: str, *, name: str = "scanner", preserve: bool = False
) -> dict[str, Any]:
    """A folder-scanner South create body taking every file of ``input_dir`` as soon as it appears."""
    return {
        "name": name,
        "type": "folder-scanner",
        "description": "",
        "enabled": True,
        "settings": {"inputFolder": str(input_dir), "compression": False},
        "items": [
            {
                "name": "all files",
                "enabled": True,
                "scanModeId": scan_mode,
                "settings": {
                    "regex": ".*",
                    "minAge": 0,
                    "preserveFiles": preserve,
                    "ignoreModifiedDate": False,
                    "maxFiles": 0,
                    "maxSize": 0,
                    "recursive": False,
                },
            }
        ],
        "groups": [],
    }


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.1) -> None:
    """Poll ``predicate`` until true; raise ``TimeoutError(what)`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(poll_s)
    raise TimeoutError(what)


@contextlib.contextmanager
def running_engine(data_dir: Path) -> Iterator[EngineProcess]:
    """An engine for one test; it must stop gracefully (exit code 0) at the end."""
    process = EngineProcess(data_dir).start()
    try:
        yield process
    finally:
        if process.proc is not None and process.proc.poll() is None:
            assert process.stop() == 0, process.log()
