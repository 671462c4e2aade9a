"""Azure Blob North against Azurite's blob service, started by the tests (npm package under .ci/node/)."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from azure.storage.blob import ContainerSasPermissions, generate_container_sas
from azure.storage.blob.aio import BlobServiceClient
from fakes import RecordingLogger
from servers.azurite import ACCOUNT, ACCOUNT_KEY, AzuriteMissing, azurite_blob
from servers.connect_proxy import ConnectProxy

from connectors import registry
from connectors.base import ConnectorContext
from connectors.errors import ConnectorError, ConnectorNotReady, SendError
from connectors.manifest import secret_fields
from connectors.north.azure_blob import MANIFEST, AzureBlobNorth
from connectors.north.azure_blob.manifest import AzureBlobSettings


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    try:
        with azurite_blob(tmp_path_factory.mktemp("azurite")) as url:
            yield url
    except AzuriteMissing as err:
        if os.environ.get("OIBUS_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{err}; OIBUS_REQUIRE_SERVICES=1 forbids skipping")
        pytest.skip(str(err))


@pytest.fixture
async def container(endpoint: str) -> AsyncIterator[tuple[str, Any]]:
    name = f"oibus-{uuid.uuid4().hex[:12]}"
    async with BlobServiceClient(endpoint, credential={"account_name": ACCOUNT, "account_key": ACCOUNT_KEY}) as admin:
        client = admin.get_container_client(name)
        await client.create_container()
        try:
            yield name, client
        finally:
            await client.delete_container()


def make(endpoint: str, container: str, **settings: Any) -> AzureBlobNorth:
    wire = {
        "useCustomUrl": True,
        "customUrl": endpoint,
        "container": container,
        "path": "plant/a",
        "authentication": "access-key",
        "accessKey": ACCOUNT_KEY,
        **settings,
    }
    context = ConnectorContext(
        id="n1", name="Blob", logger=RecordingLogger(), base_folder=Path("."), data_folder=Path(".")
    )
    return AzureBlobNorth(msgspec.convert(wire, AzureBlobSettings), context)


async def read(client: Any, name: str) -> bytes:
    download = await client.download_blob(name)
    data: bytes = await download.readall()
    return data


def test_registered_secrets_and_validation() -> None:
    assert registry.manifest("north", "azure-blob") is MANIFEST
    assert secret_fields(AzureBlobSettings) == {"accessKey", "sasToken", "clientSecret", "proxyPassword"}
    with pytest.raises(msgspec.ValidationError, match="account is required"):
        msgspec.convert({"container": "abc", "accessKey": "k"}, AzureBlobSettings)
    with pytest.raises(msgspec.ValidationError, match="tenantId, clientId and clientSecret"):
        msgspec.convert({"account": "a", "container": "abc", "authentication": "aad"}, AzureBlobSettings)
    with pytest.raises(msgspec.ValidationError, match="useADLS"):
        msgspec.convert({"account": "a", "container": "abc", "accessKey": "k", "useADLS": True}, AzureBlobSettings)


async def test_files_and_values_arrive_byte_identical(
    tmp_path: Path, endpoint: str, container: tuple[str, Any]
) -> None:
    name, client = container
    source = tmp_path / "cached"
    payload = os.urandom(9 * 1024 * 1024 + 7)  # Above the SDK's single-shot size: uploaded in blocks.
    source.write_bytes(payload)
    north = make(endpoint, name)
    await north.start()
    try:
        await north.test_connection()
        await north.handle_file(source, "sub/data.bin")
        await north.handle_values([{"pointId": "p", "timestamp": "2026-01-01T00:00:00.000Z", "data": {"value": 1}}])
    finally:
        await north.stop()
    names = sorted([blob.name async for blob in client.list_blobs()])
    assert len(names) == 2 and "plant/a/data.bin" in names
    assert await read(client, "plant/a/data.bin") == payload
    values = next(blob for blob in names if blob.endswith(".json"))
    assert values.startswith("plant/a/Blob-")
    assert json.loads(await read(client, values))[0]["pointId"] == "p"


async def test_sas_token(tmp_path: Path, endpoint: str, container: tuple[str, Any]) -> None:
    name, client = container
    token = generate_container_sas(
        ACCOUNT,
        name,
        account_key=ACCOUNT_KEY,
        permission=ContainerSasPermissions(read=True, write=True, create=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )
    source = tmp_path / "cached"
    source.write_bytes(b"sas")
    north = make(endpoint, name, authentication="sas-token", sasToken=token, accessKey=None)
    await north.start()
    try:
        await north.handle_file(source, "s.csv")
    finally:
        await north.stop()
    assert await read(client, "plant/a/s.csv") == b"sas"


async def test_refusals_and_unreachable_store(tmp_path: Path, endpoint: str, container: tuple[str, Any]) -> None:
    name, _ = container
    source = tmp_path / "cached"
    source.write_bytes(b"x")
    cases = [
        (make(endpoint, name, accessKey="d3Jvbmc="), 403),
        (make(endpoint, f"missing-{uuid.uuid4().hex[:8]}"), 404),
    ]
    for north, status in cases:
        await north.start()
        try:
            with pytest.raises(SendError, match=f"HTTP {status}") as caught:
                await north.handle_file(source, "a.csv")
            assert not caught.value.retry_forever
        finally:
            await north.stop()
        with pytest.raises(ConnectorError, match=f"refused: HTTP {status}"):
            await north.test_connection()
    down = make(f"http://127.0.0.1:9/{ACCOUNT}", name)
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
    tmp_path: Path, endpoint: str, container: tuple[str, Any]
) -> None:
    name, client = container
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
        assert await read(client, "plant/a/proxied.bin") == payload
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
