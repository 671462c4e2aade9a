"""REST North against an in-process aiohttp target: what arrives, and the classification code by code."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from fakes import RecordingLogger
from servers.connect_proxy import ConnectProxy
from servers.rest_target import RestTarget
from servers.tls import self_signed

from connectors import registry
from connectors.base import ConnectorContext
from connectors.errors import ConnectorError, ConnectorNotReady, SendError
from connectors.north.rest import MANIFEST, RestNorth
from connectors.north.rest.connector import is_transient
from connectors.north.rest.manifest import RestNorthSettings

VALUES = [{"pointId": "p", "timestamp": "2026-01-01T00:00:00.000Z", "data": {"value": 1}}]


@pytest.fixture
async def target() -> AsyncIterator[RestTarget]:
    async with RestTarget() as running:
        yield running


def make(target: RestTarget, **settings: Any) -> RestNorth:
    wire = {"host": target.url, "endpoint": "/api/data", **settings}
    context = ConnectorContext(
        id="n1", name="Rest", logger=RecordingLogger(), base_folder=Path("."), data_folder=Path(".")
    )
    return RestNorth(msgspec.convert(wire, RestNorthSettings), context)


async def send_file(north: RestNorth, tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / "cached"
    path.write_bytes(data)
    await north.start()
    try:
        await north.handle_file(path, name)
    finally:
        await north.stop()


def test_registered_and_nested_fields_validated() -> None:
    assert registry.manifest("north", "rest") is MANIFEST
    with pytest.raises(msgspec.ValidationError, match=r"\$\.host"):
        msgspec.convert({"host": "ftp://x"}, RestNorthSettings)
    with pytest.raises(msgspec.ValidationError, match="username is required"):
        msgspec.convert({"host": "http://x", "authentication": {"type": "basic"}}, RestNorthSettings)
    with pytest.raises(msgspec.ValidationError, match="proxyUrl is required"):
        msgspec.convert({"host": "http://x", "proxy": {"useProxy": True}}, RestNorthSettings)


async def test_body_send_with_params_headers_and_basic_auth(tmp_path: Path, target: RestTarget) -> None:
    north = make(
        target,
        method="PUT",
        queryParams=[{"key": "site", "value": "A"}],
        headers=[{"key": "X-Plant", "value": "7"}],
        authentication={"type": "basic", "username": "u", "password": "p"},
    )
    await send_file(north, tmp_path, "sub/data.csv", b"a;b\n1;2\n")
    [received] = target.requests
    assert (received.method, received.path, received.query) == ("PUT", "/api/data", {"site": "A"})
    assert received.body == b"a;b\n1;2\n"
    assert received.headers["Content-Type"] == "text/csv"
    assert received.headers["X-Plant"] == "7"
    assert received.headers["Authorization"] == "Basic " + base64.b64encode(b"u:p").decode()


async def test_file_send_and_values_with_bearer_and_api_keys(tmp_path: Path, target: RestTarget) -> None:
    await send_file(
        make(target, sendAs="file", authentication={"type": "bearer", "token": "t0k"}), tmp_path, "x.bin", b"\x00\x01"
    )
    north = make(target, authentication={"type": "api-key", "apiKey": "k", "apiValue": "v", "addTo": "query-params"})
    await north.start()
    try:
        await north.handle_values(VALUES)  # type: ignore[arg-type]
    finally:
        await north.stop()
    await send_file(
        make(target, authentication={"type": "api-key", "apiKey": "X-Key", "apiValue": "v2"}), tmp_path, "y.json", b"[]"
    )
    first, second, third = target.requests
    assert (first.file_name, first.file_data) == ("x.bin", b"\x00\x01")
    assert first.headers["Authorization"] == "Bearer t0k"
    assert second.query == {"k": "v"} and json.loads(second.body) == VALUES
    assert second.headers["Content-Type"] == "application/json"
    assert third.headers["X-Key"] == "v2" and third.headers["Content-Type"] == "application/json"


CODES = [400, 401, 403, 404, 405, 407, 408, 409, 413, 422, 429, 500, 502, 503, 504, 511]


@pytest.mark.parametrize("status", CODES)
async def test_refusals_are_classified_code_by_code(tmp_path: Path, target: RestTarget, status: int) -> None:
    target.status = status
    target.answer = "no thanks"
    with pytest.raises(SendError, match=f"HTTP {status}: no thanks") as caught:
        await send_file(make(target), tmp_path, "a.csv", b"x")
    # 4xx other than 408/429 go to the error cache (after the retries); 408, 429 and 5xx retry forever.
    expected_forever = status >= 500 or status in (408, 429)
    assert caught.value.retry_forever is expected_forever
    assert is_transient(status) is expected_forever


async def test_success_code_and_unreachable_target(tmp_path: Path, target: RestTarget) -> None:
    target.status = 302
    await send_file(make(target, successCode=302), tmp_path, "a.csv", b"x")
    port = target.port
    await target.stop()
    with pytest.raises(SendError, match="cannot reach") as caught:
        await send_file(make(target, host=f"http://127.0.0.1:{port}"), tmp_path, "a.csv", b"x")
    assert caught.value.retry_forever


async def test_api_key_never_appears_in_errors(tmp_path: Path, target: RestTarget) -> None:
    target.status = 400
    north = make(
        target, authentication={"type": "api-key", "apiKey": "k", "apiValue": "SECRET", "addTo": "query-params"}
    )
    with pytest.raises(SendError) as caught:
        await send_file(north, tmp_path, "a.csv", b"x")
    assert "SECRET" not in str(caught.value)


async def test_connection_test_request(target: RestTarget) -> None:
    north = make(target, test={"testMethod": "POST", "testEndpoint": "/health", "body": '{"ping":1}'})
    await north.test_connection()
    assert (target.requests[0].path, target.requests[0].body) == ("/health", b'{"ping":1}')
    target.status = 500
    with pytest.raises(ConnectorError, match="HTTP 500, expected 200"):
        await north.test_connection()
    await target.stop()
    with pytest.raises(ConnectorNotReady, match="cannot reach"):
        await north.test_connection()


async def test_https_through_an_authenticating_proxy_and_accept_unauthorized(tmp_path: Path) -> None:
    certificate = self_signed(tmp_path)
    proxy = ConnectProxy(credentials=("pu", "pp")).start()
    try:
        async with RestTarget(tls=certificate.server_context()) as secure:
            options = {"useProxy": True, "proxyUrl": proxy.url, "proxyUsername": "pu", "proxyPassword": "pp"}
            # A self-signed certificate is refused unless acceptUnauthorized: a transient failure.
            with pytest.raises(SendError, match="cannot reach") as caught:
                await send_file(make(secure, proxy=options), tmp_path, "a.csv", b"refused")
            assert caught.value.retry_forever
            await send_file(make(secure, proxy=options, acceptUnauthorized=True), tmp_path, "a.csv", b"via proxy")
            assert [received.body for received in secure.requests] == [b"via proxy"]
        assert proxy.tunnels == [f"127.0.0.1:{secure.port}", f"127.0.0.1:{secure.port}"]
    finally:
        proxy.stop()
