"""A private NATS server with JetStream for tests: a real ``nats-server`` child on a port the kernel assigns.

    with private_nats(tmp_path) as server:
        server.url        # nats://127.0.0.1:<port>
        server.restart()  # same port, same JetStream store: streams and messages survive

The first start asks for a random port (``-p -1``) and reads the one the server took from its ports file; a
restart asks for that same port again.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

NATS_SERVER = "/usr/sbin/nats-server"


@dataclass
class PrivateNats:
    """A private ``nats-server -js`` storing its streams under ``folder``."""

    folder: Path
    port: int = -1
    options: tuple[str, ...] = ()
    """Extra command-line options (``--auth <token>``, ``--user``/``--pass``)."""
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The client URL."""
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the server and wait until its client port is known and open."""
        if not Path(NATS_SERVER).exists():
            pytest.fail(f"{NATS_SERVER} is missing (Debian package nats-server)")
        ports = self.folder / "ports"
        ports.mkdir(parents=True, exist_ok=True)
        for old in ports.glob("*.ports"):
            old.unlink()
        log = (self.folder / "log").open("ab")
        command = [NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.folder / "store")]
        command += [*self.options, "--ports_file_dir", str(ports)]
        self.process = subprocess.Popen(command, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.process.returncode}: {self.log()}")
            for found in ports.glob("*.ports"):
                with contextlib.suppress(ValueError, IndexError):
                    self.port = int(json.loads(found.read_text())["nats"][0].rsplit(":", 1)[1])
                    return
            time.sleep(0.05)
        raise TimeoutError(f"nats-server did not report its port: {self.log()}")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s)."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)

    def restart(self) -> None:
        """Stop, then start again on the same port with the same store."""
        self.stop()
        self.start()

    def log(self) -> str:
        """The server's output so far."""
        path = self.folder / "log"
        return path.read_text(errors="replace") if path.exists() else ""


@contextlib.contextmanager
def private_nats(folder: Path, *options: str) -> Iterator[PrivateNats]:
    """Start a private server in ``folder`` (with extra ``options``); stop it at the end."""
    server = PrivateNats(folder, options=options)
    server.start()
    try:
        yield server
    finally:
        server.stop()
