"""A private PostgreSQL server for tests that restart their peer: a real ``postgres`` child on a unix socket.

    with private_postgres() as server:
        server.settings  # {"host": <socket folder>, "port": 5432, "database": "postgres", "username": "postgres"}
        server.restart()

It listens on no TCP port at all (``listen_addresses=''``): the socket lives in a folder of its own, so parallel
tests never compete for a port. The cluster is created by ``initdb`` as the ``postgres`` user (PostgreSQL refuses
to run as root), in a temporary folder removed at the end.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

BIN = Path("/usr/lib/postgresql")


def _bin(name: str) -> str:
    found = sorted(BIN.glob(f"*/bin/{name}"))
    if not found:
        pytest.fail(f"PostgreSQL server binaries ({BIN}/<version>/bin/{name}) are missing")
    return str(found[-1])


def _as_postgres(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", *command], capture_output=True, text=True, timeout=60, check=False
    )


@dataclass
class PrivatePostgres:
    """A running private cluster: ``settings`` for a connector, ``restart()``/``stop()``/``start()``."""

    folder: Path

    @property
    def data(self) -> Path:
        """The cluster's data directory."""
        return self.folder / "data"

    @property
    def socket_folder(self) -> Path:
        """Where the server's unix socket lives (the connector's ``host``)."""
        return self.folder / "run"

    @property
    def settings(self) -> dict[str, Any]:
        """Connection settings in the PostgreSQL connectors' camelCase shape."""
        return {"host": str(self.socket_folder), "port": 5432, "database": "postgres", "username": "postgres"}

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-c listen_addresses='' -k {self.socket_folder} -c fsync=off -c max_connections=20"
        done = _as_postgres(
            _bin("pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "log"), "-w", "-o", options, "start"
        )
        if done.returncode != 0:
            raise RuntimeError(f"private postgres did not start: {done.stdout}{done.stderr}{self.log()}")

    def stop(self) -> None:
        """Stop the server (fast shutdown: open sessions are cut, as in a real restart)."""
        _as_postgres(_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def restart(self) -> None:
        """Stop, then start again on the same socket."""
        self.stop()
        self.start()

    def log(self) -> str:
        """The server's log so far."""
        path = self.folder / "log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextlib.contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """Create, start and finally stop and delete a private cluster."""
    folder = Path(tempfile.mkdtemp(prefix="oibus-pg-"))
    server = PrivatePostgres(folder)
    try:
        server.socket_folder.mkdir()
        shutil.chown(folder, "postgres")
        shutil.chown(server.socket_folder, "postgres")
        done = _as_postgres(_bin("initdb"), "-D", str(server.data), "-A", "trust", "-U", "postgres", "--no-sync")
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stdout}{done.stderr}")
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
