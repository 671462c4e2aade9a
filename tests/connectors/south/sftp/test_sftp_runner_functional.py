"""SFTP and FTP Souths in their real runner with refused credentials: one login per backoff step, no storm."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from servers.ftp import FtpServer
from servers.sftp import SftpServer

from engine.ipc import Log, Message, Start
from engine.worker import runner as runner_module
from engine.worker.channel import Channel
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


@pytest.fixture(params=["sftp", "ftp"])
async def server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[str, Any]]:
    root = tmp_path / "root"
    root.mkdir()
    if request.param == "sftp":
        async with SftpServer(root, users={"oibus": "right"}) as sftp:
            yield "sftp", sftp
    else:
        async with FtpServer(root, users={"oibus": "right"}) as ftp:
            yield "ftp", ftp


async def test_refused_credentials_are_retried_only_at_the_runner_backoff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: tuple[str, Any]
) -> None:
    kind, peer = server
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
    dto: dict[str, Any] = {
        "id": "s1",
        "name": "files",
        "type": kind,
        "settings": {"host": "127.0.0.1", "port": peer.port, "username": "oibus", "password": "wrong"},
        "items": [],
    }
    channel = RecordingChannel()
    runner = SouthRunner(channel, Start(role="south", connector=dto, data_dir=str(tmp_path / "data")))
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
