"""SFTP North against an in-process asyncssh SFTP server."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from fakes import RecordingLogger
from servers.sftp import SftpServer

from connectors import registry
from connectors.base import ConnectorContext
from connectors.errors import ConnectorNotReady, SendError
from connectors.north.sftp import MANIFEST, SftpNorth
from connectors.north.sftp.manifest import SftpNorthSettings
from engine.cache.north import CacheEntry, NorthCache
from engine.cache.north.types import NewEntry
from engine.cache.settings import CachingSettings


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "server"
    (folder / "out").mkdir(parents=True)
    return folder


@pytest.fixture
async def server(root: Path) -> AsyncIterator[SftpServer]:
    async with SftpServer(root, users={"oibus": "s3cret"}) as running:
        yield running


def make(server: SftpServer, lost: list[str] | None = None, **settings: Any) -> SftpNorth:
    wire = {
        "port": server.port,
        "username": "oibus",
        "password": "s3cret",
        "remoteFolder": "/out",
        "prefix": "",
        "suffix": "",
        **settings,
    }
    context = ConnectorContext(
        id="n1",
        name="Up",
        logger=RecordingLogger(),
        base_folder=Path("."),
        data_folder=Path("."),
        connection_lost=(lost if lost is not None else []).append,
    )
    return SftpNorth(msgspec.convert(wire, SftpNorthSettings), context)


def test_registered() -> None:
    assert registry.manifest("north", "sftp") is MANIFEST


async def test_files_and_values_arrive_byte_identical(tmp_path: Path, root: Path, server: SftpServer) -> None:
    source = tmp_path / "cached"
    payload = os.urandom(500_000)
    source.write_bytes(payload)
    north = make(server, prefix="@ConnectorName-", suffix="-x")
    await north.start()
    try:
        await north.handle_file(source, "sub/data.bin")
        await north.handle_values([{"pointId": "p", "timestamp": "2026-01-01T00:00:00.000Z", "data": {"value": 1}}])
    finally:
        await north.stop()
    written = {path.name: path.read_bytes() for path in (root / "out").iterdir()}
    assert written.pop("Up-data-x.bin") == payload
    [(name, values)] = written.items()
    assert name.startswith("Up-") and name.endswith("-x.json")
    assert json.loads(values)[0]["pointId"] == "p"


async def test_lost_session_retries_forever_and_resumes(tmp_path: Path, root: Path, server: SftpServer) -> None:
    source = tmp_path / "cached"
    source.write_bytes(b"abc")
    lost: list[str] = []
    north = make(server, lost)
    await north.start()
    try:
        await server.stop()
        with pytest.raises(SendError) as caught:
            await north.handle_file(source, "a.csv")
        assert caught.value.retry_forever and lost
        await server.start()
        await north.stop()
        await north.start()
        await north.handle_file(source, "a.csv")
    finally:
        await north.stop()
    assert (root / "out" / "a.csv").read_bytes() == b"abc"
    assert [path.name for path in (root / "out").iterdir()] == ["a.csv"]


async def test_refused_write_counts_towards_retries(tmp_path: Path, root: Path, server: SftpServer) -> None:
    source = tmp_path / "cached"
    source.write_bytes(b"abc")
    north = make(server)
    await north.start()
    try:
        (root / "out").rename(root / "gone")
        with pytest.raises(SendError, match="refused to write") as caught:
            await north.handle_file(source, "a.csv")
        assert not caught.value.retry_forever
        with pytest.raises(SendError, match="cannot be read") as missing:
            await north.handle_file(tmp_path / "nope", "a.csv")
        assert not missing.value.retry_forever
    finally:
        await north.stop()


async def test_wrong_password_and_missing_folder_are_clear(server: SftpServer) -> None:
    with pytest.raises(ConnectorNotReady, match="refused the credentials"):
        await make(server, password="bad").start()
    with pytest.raises(ConnectorNotReady, match="remote folder /nope does not exist"):
        await make(server, remoteFolder="/nope").test_connection()
    assert server.auth_attempts == 2


async def test_no_file_lost_across_a_server_restart_through_the_north_cache(
    tmp_path: Path, root: Path, server: SftpServer
) -> None:
    """The real North cache feeds the North while the server goes away and comes back: every file arrives intact."""
    lost: list[str] = []
    north = make(server, lost)
    delivered: list[str] = []
    restarts: list[int] = []

    async def send(entry: CacheEntry) -> None:
        if len(lost) > len(restarts):
            # What the worker's runner does when the connector reports its session lost: restart it.
            restarts.append(len(lost))
            await north.stop()
            await north.start()
        await north.handle_file(entry.content_path, entry.content_file)
        delivered.append(entry.content_file)

    settings = msgspec.convert(
        {
            "trigger": {"scanModeId": "none", "numberOfElements": 1, "numberOfFiles": 1},
            "throttling": {"runMinDelay": 0, "maxSize": 0, "maxNumberOfElements": 0},
            "error": {"retryInterval": 50, "retryCount": 3, "retentionDuration": 0},
            "archive": {"enabled": False, "retentionDuration": 0},
        },
        CachingSettings,
    )
    files = {f"f{index:02d}.bin": os.urandom(1000 + index * 997) for index in range(12)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    await north.start()
    cache = NorthCache(tmp_path / "data", "n1", settings, send=send, supported_types=["any"], logger=RecordingLogger())
    await cache.open()
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(cache.run())
            names = list(files)
            await cache.store([NewEntry.file(tmp_path / name, filename=name) for name in names[:6]])
            async with asyncio.timeout(30):
                while len(delivered) < 6:  # noqa: ASYNC110 (the cache offers no event for a send)
                    await asyncio.sleep(0.01)
            await server.stop()
            # Stored while the server is down: the sends fail (a lost session retries forever) and wait.
            await cache.store([NewEntry.file(tmp_path / name, filename=name) for name in names[6:]])
            async with asyncio.timeout(30):
                while not lost:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            await server.start()
            async with asyncio.timeout(30):
                while len(delivered) < len(files):  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            await cache.close()
    finally:
        await cache.close()
        await north.stop()
    assert {path.name: path.read_bytes() for path in (root / "out").iterdir()} == files
    assert sorted(delivered) == sorted(files)
