"""FTP South against an in-process aioftp server and a real South cache (sqlite)."""

from __future__ import annotations

import gzip
import os
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from fakes import RecordingLogger, RecordingSink
from servers.ftp import FtpServer
from servers.tls import self_signed

from connectors import registry
from connectors.base import ConnectorContext, Item
from connectors.errors import ConnectorConnectionError, ConnectorNotReady
from connectors.manifest import secret_fields
from connectors.south.ftp import MANIFEST, FtpSouth
from connectors.south.ftp.manifest import FtpItemSettings, FtpSettings
from engine.cache.south import SouthCacheDB

OLD_S = time.time() - 3600


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "server"
    (folder / "in" / "sub").mkdir(parents=True)
    return folder


@pytest.fixture
async def server(root: Path) -> AsyncIterator[FtpServer]:
    async with FtpServer(root, users={"oibus": "s3cret"}, anonymous=True) as running:
        yield running


@pytest.fixture
def cache_db(tmp_path: Path) -> Iterator[SouthCacheDB]:
    db = SouthCacheDB(tmp_path / "data" / "cache" / "cache.db")
    yield db
    db.close()


def write(root: Path, name: str, data: bytes, mtime: float = OLD_S) -> None:
    path = root / "in" / name
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))


def make(
    tmp_path: Path,
    server: FtpServer,
    sink: RecordingSink,
    db: SouthCacheDB,
    lost: list[str] | None = None,
    **extra: Any,
) -> FtpSouth:
    wire = {"host": "127.0.0.1", "port": server.port, "username": "oibus", "password": "s3cret", **extra}
    context = ConnectorContext(
        id="s1",
        name="Ftp",
        logger=RecordingLogger(),
        base_folder=tmp_path / "data" / "south-s1",
        data_folder=tmp_path / "data" / "south-s1",
        connection_lost=(lost if lost is not None else []).append,
    )
    return FtpSouth(msgspec.convert(wire, FtpSettings), context, sink, db.for_south("s1"))


def item(**settings: Any) -> Item[FtpItemSettings]:
    wire = {"remoteFolder": "/in", "minAge": 0, **settings}
    return Item(id="i1", name="files", enabled=True, settings=msgspec.convert(wire, FtpItemSettings))


def test_registered_and_password_is_secret() -> None:
    assert registry.manifest("south", "ftp") is MANIFEST
    assert secret_fields(FtpSettings) == {"password"}
    with pytest.raises(msgspec.ValidationError, match="username is required"):
        msgspec.convert({"authentication": "password"}, FtpSettings)


async def test_files_arrive_byte_identical_and_leave_the_server(
    tmp_path: Path, root: Path, server: FtpServer, cache_db: SouthCacheDB
) -> None:
    big = os.urandom(400_000)
    write(root, "a.csv", b"a;b\n1;2\n")
    write(root, "b.csv", big)
    write(root, "c.txt", b"ignored")
    write(root, "sub/d.csv", b"deep")
    sink = RecordingSink()
    south = make(tmp_path, server, sink, cache_db)
    await south.start()
    try:
        await south.last_file([item(regex=r"\.csv$", preserveFiles=False, recursive=True)])
    finally:
        await south.stop()
    assert sorted(sink.filenames) == ["a.csv", "b.csv", "sub/d.csv"]
    assert sink.file("b.csv").data == big
    assert sink.file("sub/d.csv").data == b"deep"
    assert sorted(p.name for p in (root / "in").iterdir()) == ["c.txt", "sub"]
    assert list((tmp_path / "data" / "south-s1" / "tmp").iterdir()) == []


async def test_anonymous_login_preserve_and_compression(
    tmp_path: Path, root: Path, server: FtpServer, cache_db: SouthCacheDB
) -> None:
    write(root, "a.csv", b"v1")
    sink = RecordingSink()
    south = make(tmp_path, server, sink, cache_db, authentication="none", username="", compression=True)
    await south.start()
    try:
        await south.last_file([item()])
        await south.last_file([item()])
        write(root, "a.csv", b"v2", mtime=OLD_S + 10)
        await south.last_file([item()])
    finally:
        await south.stop()
    assert sink.filenames == ["a.csv.gz", "a.csv.gz"]
    assert [gzip.decompress(recorded.data) for recorded in sink.files] == [b"v1", b"v2"]
    assert (root / "in" / "a.csv").exists()


async def test_no_file_lost_across_a_server_restart(
    tmp_path: Path, root: Path, server: FtpServer, cache_db: SouthCacheDB
) -> None:
    sink = RecordingSink()
    lost: list[str] = []
    south = make(tmp_path, server, sink, cache_db, lost)
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
        # What the runner does after a failed run: stop, then start again.
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
    tmp_path: Path, server: FtpServer, cache_db: SouthCacheDB
) -> None:
    south = make(tmp_path, server, RecordingSink(), cache_db, password="wrong")
    for _ in range(3):
        with pytest.raises(ConnectorNotReady, match=r"oibus@127\.0\.0\.1:\d+ refused the credentials") as caught:
            await south.start()
        assert "wrong" not in str(caught.value)
    assert server.auth_attempts == 3


async def test_missing_folder_unreachable_server_and_item_test(
    tmp_path: Path, root: Path, server: FtpServer, cache_db: SouthCacheDB
) -> None:
    write(root, "a.csv", b"a")
    sink = RecordingSink()
    south = make(tmp_path, server, sink, cache_db)
    now = datetime.now(UTC)
    await south.test_item(item(preserveFiles=False), now, now)
    assert [value["data"]["value"] for value in sink.values] == ["a.csv"]
    assert sink.files == [] and (root / "in" / "a.csv").exists()
    await south.start()
    try:
        with pytest.raises(ConnectorNotReady, match="remote folder /nope cannot be listed"):
            await south.last_file([item(remoteFolder="/nope")])
    finally:
        await south.stop()
    await server.stop()
    with pytest.raises(ConnectorNotReady, match="cannot be reached"):
        await make(tmp_path, server, sink, cache_db).test_connection()


async def test_explicit_tls(tmp_path: Path, root: Path, cache_db: SouthCacheDB) -> None:
    certificate = self_signed(tmp_path)
    write(root, "secret.csv", b"encrypted on the wire")
    async with FtpServer(root, users={"oibus": "s3cret"}, tls=certificate.server_context()) as server:
        sink = RecordingSink()
        south = make(tmp_path, server, sink, cache_db, explicitTls=True, acceptUnauthorized=True)
        await south.start()
        try:
            await south.last_file([item(preserveFiles=False)])
        finally:
            await south.stop()
    assert sink.file("secret.csv").data == b"encrypted on the wire"
    assert not (root / "in" / "secret.csv").exists()


async def test_explicit_tls_refuses_a_self_signed_certificate(
    tmp_path: Path, root: Path, cache_db: SouthCacheDB
) -> None:
    certificate = self_signed(tmp_path)
    async with FtpServer(root, users={"oibus": "s3cret"}, tls=certificate.server_context()) as server:
        with pytest.raises(ConnectorNotReady, match="TLS handshake failed"):
            await make(tmp_path, server, RecordingSink(), cache_db, explicitTls=True).test_connection()


async def test_explicit_tls_against_a_plain_server_is_clear(
    tmp_path: Path, server: FtpServer, cache_db: SouthCacheDB
) -> None:
    with pytest.raises(ConnectorNotReady, match="does not offer explicit TLS"):
        await make(tmp_path, server, RecordingSink(), cache_db, explicitTls=True).test_connection()
