"""SFTP South against an in-process asyncssh SFTP server and a real South cache (sqlite)."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncssh
import msgspec
import pytest
from fakes import RecordingLogger, RecordingSink
from servers.sftp import SftpServer

from connectors import registry
from connectors.base import ConnectorContext, Item
from connectors.errors import ConnectorConnectionError, ConnectorFatal, ConnectorNotReady
from connectors.manifest import secret_fields
from connectors.south.sftp import MANIFEST, SftpSouth
from connectors.south.sftp.manifest import SftpItemSettings, SftpSettings
from engine.cache.south import SouthCacheDB

OLD_S = time.time() - 3600


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "server"
    (folder / "in" / "sub").mkdir(parents=True)
    return folder


@pytest.fixture
async def server(root: Path) -> AsyncIterator[SftpServer]:
    async with SftpServer(root, users={"oibus": "s3cret"}) as running:
        yield running


@pytest.fixture
def cache_db(tmp_path: Path) -> Iterator[SouthCacheDB]:
    db = SouthCacheDB(tmp_path / "data" / "cache" / "cache.db")
    yield db
    db.close()


def write(root: Path, name: str, data: bytes, mtime: float = OLD_S) -> Path:
    path = root / "in" / name
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


def make(
    tmp_path: Path, server: SftpServer, sink: RecordingSink, db: SouthCacheDB, **settings: Any
) -> tuple[SftpSouth, RecordingLogger]:
    wire = {"host": "127.0.0.1", "port": server.port, "username": "oibus", "password": "s3cret", **settings}
    logger = RecordingLogger()
    lost: list[str] = []
    context = ConnectorContext(
        id="s1",
        name="Sftp",
        logger=logger,
        base_folder=tmp_path / "data" / "south-s1",
        data_folder=tmp_path / "data" / "south-s1",
        connection_lost=lost.append,
    )
    south = SftpSouth(msgspec.convert(wire, SftpSettings), context, sink, db.for_south("s1"))
    return south, logger


def item(**settings: Any) -> Item[SftpItemSettings]:
    wire = {"remoteFolder": "/in", "minAge": 0, **settings}
    return Item(id="i1", name="files", enabled=True, settings=msgspec.convert(wire, SftpItemSettings))


def test_registered_and_password_is_secret() -> None:
    assert registry.manifest("south", "sftp") is MANIFEST
    assert secret_fields(SftpSettings) == {"password", "passphrase"}


def test_private_key_authentication_needs_a_key() -> None:
    with pytest.raises(msgspec.ValidationError, match="privateKey"):
        msgspec.convert({"username": "u", "authentication": "private-key"}, SftpSettings)


def test_bad_item_regex_names_the_field() -> None:
    with pytest.raises(msgspec.ValidationError, match="regular expression"):
        msgspec.convert({"remoteFolder": "/in", "regex": "("}, SftpItemSettings)


async def test_files_arrive_byte_identical_and_leave_the_server(
    tmp_path: Path, root: Path, server: SftpServer, cache_db: SouthCacheDB
) -> None:
    payloads = {"a.csv": b"a;b\n1;2\n", "b.csv": os.urandom(300_000), "c.txt": b"ignored"}
    for name, data in payloads.items():
        write(root, name, data)
    write(root, "sub/d.csv", b"deep")
    sink = RecordingSink()
    south, _ = make(tmp_path, server, sink, cache_db)
    await south.start()
    try:
        await south.last_file([item(regex=r"\.csv$", preserveFiles=False, recursive=True)])
    finally:
        await south.stop()
    assert sorted(sink.filenames) == ["a.csv", "b.csv", "sub/d.csv"]
    assert sink.file("b.csv").data == payloads["b.csv"]
    assert sink.file("sub/d.csv").data == b"deep"
    assert all(recorded.owned for recorded in sink.files)
    assert sorted(p.name for p in (root / "in").iterdir()) == ["c.txt", "sub"]
    assert list((root / "in" / "sub").iterdir()) == []
    # Downloads are scratch files: none stay behind once handed over.
    assert list((tmp_path / "data" / "south-s1" / "tmp").iterdir()) == []


async def test_preserve_files_sends_once_unless_modified(
    tmp_path: Path, root: Path, server: SftpServer, cache_db: SouthCacheDB
) -> None:
    write(root, "a.csv", b"v1")
    sink = RecordingSink()
    south, _ = make(tmp_path, server, sink, cache_db)
    await south.start()
    try:
        await south.last_file([item()])
        await south.last_file([item()])
        assert sink.filenames == ["a.csv"]
        write(root, "a.csv", b"v2", mtime=OLD_S + 10)
        await south.last_file([item(ignoreModifiedDate=True)])
        assert sink.filenames == ["a.csv"]
        await south.last_file([item()])
    finally:
        await south.stop()
    assert [recorded.data for recorded in sink.files] == [b"v1", b"v2"]
    assert (root / "in" / "a.csv").exists()


async def test_compression_gzips_each_file(
    tmp_path: Path, root: Path, server: SftpServer, cache_db: SouthCacheDB
) -> None:
    import gzip

    write(root, "a.csv", b"x" * 1000)
    sink = RecordingSink()
    south, _ = make(tmp_path, server, sink, cache_db, compression=True)
    await south.start()
    try:
        await south.last_file([item(preserveFiles=False)])
    finally:
        await south.stop()
    assert sink.filenames == ["a.csv.gz"]
    assert gzip.decompress(sink.files[0].data) == b"x" * 1000


async def test_refused_files_stay_on_the_server(
    tmp_path: Path, root: Path, server: SftpServer, cache_db: SouthCacheDB
) -> None:
    write(root, "a.csv", b"a")
    sink = RecordingSink(refuse=True)
    south, _ = make(tmp_path, server, sink, cache_db)
    await south.start()
    try:
        await south.last_file([item(preserveFiles=False)])
    finally:
        await south.stop()
    assert (root / "in" / "a.csv").read_bytes() == b"a"


async def test_no_file_lost_across_a_server_restart(
    tmp_path: Path, root: Path, server: SftpServer, cache_db: SouthCacheDB
) -> None:
    sink = RecordingSink()
    south, _ = make(tmp_path, server, sink, cache_db)
    lost: list[str] = []
    south.context.connection_lost = lost.append
    write(root, "before.csv", b"before")
    await south.start()
    try:
        await south.last_file([item(preserveFiles=False)])
        await server.stop()
        write(root, "during.csv", b"during")
        with pytest.raises(ConnectorConnectionError, match="lost"):
            await south.last_file([item(preserveFiles=False)])
        assert len(lost) == 1
        await server.start()
        # What the runner does on connection_lost: stop, then start again.
        await south.stop()
        await south.start()
        write(root, "after.csv", b"after")
        await south.last_file([item(preserveFiles=False)])
    finally:
        await south.stop()
    assert {recorded.filename: recorded.data for recorded in sink.files} == {
        "before.csv": b"before",
        "during.csv": b"during",
        "after.csv": b"after",
    }
    assert list((root / "in").glob("*.csv")) == []


async def test_wrong_password_is_clear_and_tried_once_per_start(
    tmp_path: Path, server: SftpServer, cache_db: SouthCacheDB
) -> None:
    south, _ = make(tmp_path, server, RecordingSink(), cache_db, password="wrong")
    for _ in range(3):
        with pytest.raises(ConnectorNotReady, match=r"oibus@127\.0\.0\.1:\d+ refused the credentials") as caught:
            await south.start()
        assert "wrong" not in str(caught.value)
    # One attempt per start: no retry loop below the runner's backoff, which alone paces the attempts.
    assert server.auth_attempts == 3


async def test_private_key_login(tmp_path: Path, root: Path, cache_db: SouthCacheDB) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    key_file = tmp_path / "id_ed25519"
    key.write_private_key(key_file, passphrase="pp")
    write(root, "k.csv", b"key")
    async with SftpServer(root, keys={"oibus": key}) as server:
        sink = RecordingSink()
        south, _ = make(
            tmp_path, server, sink, cache_db, authentication="private-key", privateKey=str(key_file), passphrase="pp"
        )
        await south.start()
        try:
            await south.last_file([item()])
        finally:
            await south.stop()
        assert sink.file("k.csv").data == b"key"
        bad, _ = make(
            tmp_path, server, sink, cache_db, authentication="private-key", privateKey=str(key_file), passphrase="no"
        )
        with pytest.raises(ConnectorFatal, match="cannot be loaded"):
            await bad.start()


async def test_unreachable_server_and_missing_folder(
    tmp_path: Path, root: Path, server: SftpServer, cache_db: SouthCacheDB
) -> None:
    south, _ = make(tmp_path, server, RecordingSink(), cache_db)
    await south.start()
    try:
        with pytest.raises(ConnectorNotReady, match="remote folder /nope does not exist"):
            await south.last_file([item(remoteFolder="/nope")])
    finally:
        await south.stop()
    port = server.port
    await server.stop()
    down, _ = make(tmp_path, server, RecordingSink(), cache_db, port=port)
    with pytest.raises(ConnectorNotReady, match="cannot be reached"):
        await down.test_connection()


async def test_item_test_lists_without_touching(
    tmp_path: Path, root: Path, server: SftpServer, cache_db: SouthCacheDB
) -> None:
    write(root, "a.csv", b"a")
    sink = RecordingSink()
    south, _ = make(tmp_path, server, sink, cache_db)
    now = datetime.now(UTC)
    await south.test_item(item(preserveFiles=False), now, now)
    assert [value["data"]["value"] for value in sink.values] == ["a.csv"]
    assert sink.files == []
    assert (root / "in" / "a.csv").exists()
