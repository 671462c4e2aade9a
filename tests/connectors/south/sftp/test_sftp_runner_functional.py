"""SFTP and FTP Souths and the SFTP North in their real runner with refused credentials: one login per backoff step.

The server counts the logins it refused, so the test measures on the peer's side that a wrong password costs
one attempt per retry delay of the runner's backoff, never a storm.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from engine_process import north_body
from servers.ftp import FtpServer
from servers.sftp import SftpServer

from engine.ipc import Log, Message, Start
from engine.worker import runner as runner_module
from engine.worker.channel import Channel
from engine.worker.north import NorthRunner
from engine.worker.south import SouthRunner

ATTEMPTS = 6


class RecordingChannel(Channel):
    def __init__(self) -> None:
        self.sent: list[Message] = []

    def send(self, message: Message) -> None:
        self.sent.append(message)

    async def drain(self) -> None:
        return None


class Enough(Exception):
    """Raised by the fake sleep to end the runner's retry loop after ``ATTEMPTS`` attempts."""


@pytest.fixture(params=["south:sftp", "south:ftp", "north:sftp"])
async def server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[str, Any]]:
    root = tmp_path / "root"
    root.mkdir()
    (root / "out").mkdir()
    if request.param.endswith(":sftp"):
        async with SftpServer(root, users={"oibus": "right"}) as sftp:
            yield request.param, sftp
    else:
        async with FtpServer(root, users={"oibus": "right"}) as ftp:
            yield request.param, ftp


async def test_refused_credentials_are_retried_only_at_the_runner_backoff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: tuple[str, Any]
) -> None:
    peer = server[1]
    delays: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(delay: float, result: Any = None) -> Any:
        # The runner's backoff (>= 0.8 s) is recorded instead of waited, so nothing depends on wall-clock time;
        # short sleeps (libraries yielding) pass through.
        if delay < 0.5:
            return await real_sleep(delay, result)
        delays.append(delay)
        if len(delays) >= ATTEMPTS:
            raise Enough
        return result

    monkeypatch.setattr("asyncio.sleep", fake_sleep)
    role, kind = server[0].split(":")
    settings: dict[str, Any] = {"host": "127.0.0.1", "port": peer.port, "username": "oibus", "password": "wrong"}
    if role == "north":
        settings.update(remoteFolder="/out", prefix="", suffix="")
    dto: dict[str, Any] = {"id": "c1", "name": "files", "type": kind, "settings": settings, "items": []}
    if role == "north":
        dto["caching"] = north_body("files", kind, settings, "no-scan-mode")["caching"]
    channel = RecordingChannel()
    start = Start(role=role, connector=dto, data_dir=str(tmp_path / "data"))
    runner = SouthRunner(channel, start) if role == "south" else NorthRunner(channel, start)
    with pytest.raises(Enough):
        await runner.start_with_backoff()
    # One login per attempt, each attempt after a backoff delay that starts at ~1 s and doubles (capped at 60 s):
    # over a minute that is at most 6 attempts, whatever the server answers.
    assert peer.auth_attempts == ATTEMPTS
    assert all(later > earlier for earlier, later in itertools.pairwise(delays))
    assert min(delays) >= 0.8 * runner_module.START_BACKOFF_INITIAL_S
    warnings = [m for m in channel.sent if isinstance(m, Log) and m.event == "connector not ready, retrying"]
    assert len(warnings) == 1, "the refusal is logged once, not at every attempt"
    assert "refused the credentials" in str(warnings[0].fields.get("error"))
    assert "wrong" not in str(warnings[0].fields)
