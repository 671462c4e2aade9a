"""S3 North against moto's S3 server mode, started by the tests (a real HTTP peer speaking S3)."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiobotocore.session
import msgspec
import pytest
from fakes import RecordingLogger
from servers.connect_proxy import ConnectProxy
from servers.s3 import moto_s3

from connectors import registry
from connectors.base import ConnectorContext
from connectors.errors import ConnectorError, ConnectorNotReady, SendError
from connectors.manifest import secret_fields
from connectors.north.aws_s3 import MANIFEST, AwsS3North
from connectors.north.aws_s3.manifest import AwsS3Settings

MB = 1024 * 1024


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_s3() as url:
        yield url


@pytest.fixture
async def bucket(endpoint: str) -> AsyncIterator[tuple[str, Any]]:
    name = f"oibus-{uuid.uuid4().hex[:12]}"
    session = aiobotocore.session.get_session()
    async with session.create_client(
        "s3", region_name="us-east-1", endpoint_url=endpoint, aws_access_key_id="k", aws_secret_access_key="s"
    ) as admin:
        await admin.create_bucket(Bucket=name)
        yield name, admin


def make(endpoint: str, bucket: str, **settings: Any) -> AwsS3North:
    wire = {
        "bucket": bucket,
        "region": "us-east-1",
        "accessKey": "k",
        "secretKey": "s",
        "endpoint": endpoint,
        "folder": "plant/a",
        **settings,
    }
    context = ConnectorContext(
        id="n1", name="S3", logger=RecordingLogger(), base_folder=Path("."), data_folder=Path(".")
    )
    return AwsS3North(msgspec.convert(wire, AwsS3Settings), context)


async def read(admin: Any, bucket: str, key: str) -> bytes:
    answer = await admin.get_object(Bucket=bucket, Key=key)
    async with answer["Body"] as body:
        data: bytes = await body.read()
    return data


def test_registered_and_secrets() -> None:
    assert registry.manifest("north", "aws-s3") is MANIFEST
    assert secret_fields(AwsS3Settings) == {"secretKey", "proxyPassword"}


async def test_files_and_values_arrive_byte_identical(tmp_path: Path, endpoint: str, bucket: tuple[str, Any]) -> None:
    name, admin = bucket
    source = tmp_path / "cached"
    payload = os.urandom(300_000)
    source.write_bytes(payload)
    north = make(endpoint, name)
    await north.start()
    try:
        await north.test_connection()
        await north.handle_file(source, "sub/data.bin")
        await north.handle_values([{"pointId": "p", "timestamp": "2026-01-01T00:00:00.000Z", "data": {"value": 1}}])
    finally:
        await north.stop()
    listing = await admin.list_objects_v2(Bucket=name)
    keys = sorted(entry["Key"] for entry in listing["Contents"])
    assert len(keys) == 2 and "plant/a/data.bin" in keys
    assert await read(admin, name, "plant/a/data.bin") == payload
    values_key = next(key for key in keys if key.endswith(".json"))
    assert values_key.startswith("plant/a/S3-")
    assert json.loads(await read(admin, name, values_key))[0]["pointId"] == "p"


async def test_multipart_upload_of_a_200_mb_file(tmp_path: Path, endpoint: str, bucket: tuple[str, Any]) -> None:
    name, admin = bucket
    source = tmp_path / "big.bin"
    # Sparse: 200 MB long, with random bytes at a few places so a misplaced part would show.
    marks = {offset: os.urandom(4096) for offset in (0, 17 * MB, 64 * MB + 5, 150 * MB, 200 * MB - 4096)}
    with source.open("wb") as handle:
        handle.truncate(200 * MB)
        for offset, data in marks.items():
            handle.seek(offset)
            handle.write(data)
    expected = hashlib.sha256()
    with source.open("rb") as handle:
        while chunk := handle.read(MB):
            expected.update(chunk)
    north = make(endpoint, name, multipartThreshold=64)
    await north.start()
    try:
        await north.handle_file(source, "big.bin")
    finally:
        await north.stop()
    head = await admin.head_object(Bucket=name, Key="plant/a/big.bin")
    assert head["ContentLength"] == 200 * MB
    assert "-" in head["ETag"], "a multipart upload has an ETag with a part count"
    got = hashlib.sha256()
    answer = await admin.get_object(Bucket=name, Key="plant/a/big.bin")
    async with answer["Body"] as body:
        while chunk := await body.read(MB):
            got.update(chunk)
    assert got.hexdigest() == expected.hexdigest()
    assert (await admin.list_multipart_uploads(Bucket=name)).get("Uploads", []) == []


async def test_refusals_and_unreachable_store(tmp_path: Path, endpoint: str) -> None:
    source = tmp_path / "cached"
    source.write_bytes(b"x")
    north = make(endpoint, f"missing-{uuid.uuid4().hex[:8]}")
    await north.start()
    try:
        with pytest.raises(SendError, match="HTTP 404 NoSuchBucket") as caught:
            await north.handle_file(source, "a.csv")
        assert not caught.value.retry_forever
    finally:
        await north.stop()
    with pytest.raises(ConnectorError, match="refused: HTTP 404"):
        await north.test_connection()
    down = make("http://127.0.0.1:9", "any-bucket")
    await down.start()
    try:
        with pytest.raises(SendError, match="cannot be reached") as unreachable:
            await down.handle_file(source, "a.csv")
        assert unreachable.value.retry_forever
    finally:
        await down.stop()
    with pytest.raises(ConnectorNotReady, match="cannot be reached"):
        await down.test_connection()


async def test_traffic_goes_through_the_configured_proxy(
    tmp_path: Path, endpoint: str, bucket: tuple[str, Any]
) -> None:
    name, admin = bucket
    source = tmp_path / "cached"
    payload = os.urandom(50_000)
    source.write_bytes(payload)
    port = endpoint.split("://", 1)[1].split("/", 1)[0]
    with ConnectProxy(credentials=("pu", "pp"), forward_http=True) as proxy:
        via = {"useProxy": True, "proxyUrl": proxy.url, "proxyUsername": "pu", "proxyPassword": "pp"}
        north = make(endpoint, name, **via)
        await north.start()
        try:
            await north.test_connection()
            await north.handle_file(source, "proxied.bin")
        finally:
            await north.stop()
        assert await read(admin, name, "plant/a/proxied.bin") == payload
        uploads = [line for line in proxy.forwarded if line.startswith("PUT ") and line.endswith("/proxied.bin")]
        assert uploads and all(port in line for line in uploads), proxy.forwarded
        # Wrong proxy credentials: the proxy refuses, so nothing can have gone around it.
        forwarded = len(proxy.forwarded)
        wrong = make(endpoint, name, **{**via, "proxyPassword": "nope"})
        await wrong.start()
        try:
            with pytest.raises(SendError, match="407"):
                await wrong.handle_file(source, "refused.bin")
        finally:
            await wrong.stop()
        assert len(proxy.forwarded) == forwarded
        assert proxy.refused and all("bad proxy credentials" in line for line in proxy.refused)
