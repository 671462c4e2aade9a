"""oibus North against this project's own receiver (real API app on loopback), for each target generation."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from config_fakes import IngestingRuntime, store_fixture  # noqa: F401
from engine_process import closed_port
from fakes import RecordingLogger

from connectors import registry
from connectors.base import ConnectorContext, TimeValue
from connectors.errors import ConnectorConnectionError, ConnectorError, SendError
from connectors.manifest import secret_fields
from connectors.north.oibus import MANIFEST, OIBusNorth
from connectors.north.oibus.manifest import OIBusSettings
from engine.api.app import create_app
from engine.api.content import routes as content_routes
from engine.api.content_legacy import routes as legacy_routes
from engine.config import ConfigStore
from engine.info import EngineInfo
from engine.runtime import IngestResult

README = Path(__file__).resolve().parents[4] / "connectors" / "north" / "oibus" / "README.md"
VALUES: list[TimeValue] = [
    {"pointId": "temperature", "timestamp": "2026-01-01T00:00:00.000Z", "data": {"value": "21.5", "quality": "192"}}
]
VALUES_JSON = msgspec.json.encode(VALUES)


async def upstream_info(request: web.Request) -> web.Response:
    """Stands for the info route of a 3.0-3.4 (``/api/info``) or v2 (``/info``) OIBus, which cannot run here."""
    if request.headers.get("Authorization") is None:
        return web.Response(status=401)
    return web.json_response({"version": "3.4.9"})


@pytest.fixture(name="ingesting")
def ingesting_fixture() -> IngestingRuntime:
    return IngestingRuntime()


@pytest.fixture(name="receiver")
async def receiver_fixture(store: ConfigStore, ingesting: IngestingRuntime) -> AsyncIterator[str]:
    store.external_sources.create_external_source({"reference": "To IT"})
    store.external_sources.create_external_source({"reference": "OT-OIBus:To IT"})
    app = create_app(
        store, ingesting, EngineInfo(data_directory=store.data_dir), extra_routes=[content_routes, legacy_routes]
    )
    app.router.add_get("/api/info", upstream_info)
    app.router.add_get("/info", upstream_info)
    async with TestServer(app, host="127.0.0.1") as server:
        yield f"http://127.0.0.1:{server.port}"


def north(host: str, **settings: Any) -> OIBusNorth:
    context = ConnectorContext(
        id="n1",
        name="To IT",
        logger=RecordingLogger(),
        base_folder=Path("/nonexistent"),
        data_folder=Path("/nonexistent"),
        engine_name="OT-OIBus",
    )
    body = {"host": host, "username": "admin", "password": "pass", **settings}
    return OIBusNorth(msgspec.convert(body, OIBusSettings), context)


@pytest.mark.parametrize(("version", "source"), [("3.8+", "To IT"), ("3.0-3.4", "To IT"), ("2", "OT-OIBus:To IT")])
async def test_values_and_files_reach_each_generation(
    receiver: str, ingesting: IngestingRuntime, tmp_path: Path, version: str, source: str
) -> None:
    connector = north(receiver, targetVersion=version)
    await connector.start()
    try:
        await connector.handle_values_json(VALUES_JSON)
        await connector.handle_values(VALUES)
        cached = tmp_path / "entry-1"
        cached.write_bytes(b"a;b\n1;2\n")
        await connector.handle_file(cached, "2026/report.csv")
        await connector.test_connection()
    finally:
        await connector.stop()
        await connector.stop()
    assert ingesting.received == [
        ("values", (VALUES_JSON, 1), {"source": source, "norths": None}),
        ("values", (VALUES_JSON, 1), {"source": source, "norths": None}),
        ("file", (b"a;b\n1;2\n", "report.csv"), {"source": source, "norths": None}),
    ]


async def test_retry_classification(receiver: str, ingesting: IngestingRuntime) -> None:
    connector = north(receiver)
    await connector.start()
    try:
        # The receiver's North could not store it: 503, kept and retried without limit.
        ingesting.answer = IngestResult(stored=(), refused={"n1": "cache full"})
        with pytest.raises(SendError, match=r"HTTP 503.*cache full") as refused:
            await connector.handle_values_json(VALUES_JSON)
        assert refused.value.retry_forever
        # Nothing receives it there yet: 404, kept too.
        ingesting.answer = IngestResult(stored=(), refused={})
        with pytest.raises(SendError, match="HTTP 404") as unrouted:
            await connector.handle_values_json(VALUES_JSON)
        assert unrouted.value.retry_forever
        # Data the receiver will never take (400): counts towards retryCount.
        with pytest.raises(SendError, match="HTTP 400") as invalid:
            await connector.handle_values_json(b'[{"pointId": "p"}]')
        assert not invalid.value.retry_forever
    finally:
        await connector.stop()
    wrong = north(receiver, password="nope")
    await wrong.start()
    try:
        with pytest.raises(SendError, match="HTTP 401") as unauthorized:
            await wrong.handle_values_json(VALUES_JSON)
        assert unauthorized.value.retry_forever
        assert "nope" not in str(unauthorized.value)
    finally:
        await wrong.stop()


async def fails_to_send(connector: OIBusNorth, match: str, *, finally_: asyncio.Event | None = None) -> None:
    """Sending values fails with a ``SendError`` matching ``match`` that is retried forever."""
    await connector.start()
    try:
        with pytest.raises(SendError, match=match) as failed:
            await connector.handle_values_json(VALUES_JSON)
        assert failed.value.retry_forever
    finally:
        if finally_ is not None:
            finally_.set()
        await connector.stop()


async def test_unreachable_and_silent_receivers(tmp_path: Path) -> None:
    with closed_port() as port:
        connector = north(f"http://127.0.0.1:{port}")
        await fails_to_send(connector, "cannot reach")
        with pytest.raises(ConnectorConnectionError, match="cannot reach"):
            await connector.test_connection()

    release = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/api/content/content", hang)
    async with TestServer(app, host="127.0.0.1") as server:
        slow = north(f"http://127.0.0.1:{server.port}", timeout=1)
        await fails_to_send(slow, "did not answer within 1 s", finally_=release)


async def test_connection_test_names_the_refusal(receiver: str) -> None:
    with pytest.raises(ConnectorError, match=r"refused the credentials or this address \(HTTP 401\)") as refused:
        await north(receiver, password="wrong-secret").test_connection()
    assert "wrong-secret" not in str(refused.value)
    with pytest.raises(ConnectorError, match="HTTP 401"):
        await north(receiver, targetVersion="2", username=None).test_connection()


async def test_not_started_keeps_entries() -> None:
    with pytest.raises(SendError) as err:
        await north("http://127.0.0.1:9").handle_values_json(VALUES_JSON)
    assert err.value.retry_forever


def test_settings_validation_names_fields() -> None:
    with pytest.raises(msgspec.ValidationError, match="host"):
        msgspec.convert({"host": "ftp://x"}, OIBusSettings)
    with pytest.raises(msgspec.ValidationError, match="proxyUrl is required"):
        msgspec.convert({"host": "http://x:2223", "useProxy": True}, OIBusSettings)
    with pytest.raises(msgspec.ValidationError, match="targetVersion"):
        msgspec.convert({"host": "http://x:2223", "targetVersion": "3.5"}, OIBusSettings)
    settings = msgspec.convert({"host": "https://it.example:2223/"}, OIBusSettings)
    assert (settings.target_version, settings.timeout, settings.accept_unauthorized) == ("3.8+", 30, False)


def test_manifest_registry_and_readme() -> None:
    assert registry.manifest("north", "oibus") is MANIFEST
    assert registry.connector_class("north", "oibus") is OIBusNorth
    assert secret_fields(OIBusSettings) == {"password", "proxyPassword"}
    table = README.read_text().split("## Settings", 1)[1]
    documented = re.findall(r"^\| `(\w+)` \|", table, re.MULTILINE)
    assert documented == [field.encode_name for field in msgspec.structs.fields(OIBusSettings)]


def test_north_ids_are_checked_where_they_are_set() -> None:
    assert msgspec.convert({"host": "http://it:2223", "northIds": ["a", "b"]}, OIBusSettings).north_ids == ["a", "b"]
    with pytest.raises(msgspec.ValidationError, match=r"northIds: only a 3.8\+ receiver"):
        msgspec.convert({"host": "http://it:2223", "targetVersion": "2", "northIds": ["a"]}, OIBusSettings)
    with pytest.raises(msgspec.ValidationError, match=r"northIds\[1\]"):
        msgspec.convert({"host": "http://it:2223", "northIds": ["a", "b,c"]}, OIBusSettings)
