"""IP filters on real sockets: a client bound to 127.0.0.2 is refused everywhere until a filter admits it.

Loopback is always allowed, so the administrator's client (127.0.0.1) manages the filters while the
stranger (127.0.0.2, another loopback address but not one upstream exempts) watches the effect.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from config_fakes import (  # noqa: F401
    AUTH,
    Client,
    RecordingRuntime,
    api_client,
    client_fixture,
    runtime_fixture,
    store_fixture,
)
from structlog.testing import capture_logs

from engine.api import EngineInfo, create_app
from engine.api.metrics import routes as metrics_routes
from engine.config import ConfigStore
from engine.web import setup as setup_web

STRANGER = "127.0.0.2"
REFUSED = f"Access denied. IP ADDRESS {STRANGER} UNAUTHORIZED"
# Every kind of path: public status, API, metrics, live streams, web UI.
PATHS = ("/api/engine/status", "/api/engine", "/api/users/authentication", "/metrics", "/sse/home", "/", "/south")


def _can_bind(address: str, family: socket.AddressFamily = socket.AF_INET) -> bool:
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.bind((address, 0))
    except OSError:
        return False
    return True


pytestmark = pytest.mark.skipif(not _can_bind(STRANGER), reason="this system cannot bind 127.0.0.2 (macOS)")


@contextlib.asynccontextmanager
async def stranger() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session whose connections come from 127.0.0.2."""
    connector = aiohttp.TCPConnector(local_addr=(STRANGER, 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


async def _status(session: aiohttp.ClientSession, url: Any, **kwargs: Any) -> tuple[int, str]:
    async with session.get(url, **kwargs) as response:
        return response.status, await response.text()


async def _assert_refused(session: aiohttp.ClientSession, client: Client, address: str = STRANGER) -> None:
    for path in PATHS:
        async with session.get(client.make_url(path), headers=AUTH) as response:
            assert response.status == 401, path
            assert await response.text() == f"Access denied. IP ADDRESS {address} UNAUTHORIZED"
            assert "WWW-Authenticate" not in response.headers


async def test_refused_until_a_filter_admits_it(store: ConfigStore, runtime: RecordingRuntime) -> None:
    async with api_client(store, runtime, extra_routes=[metrics_routes]) as client, stranger() as session:
        with capture_logs() as logs:
            await _assert_refused(session, client)
        refusals = [entry for entry in logs if entry["event"] == "ip_address_refused"]
        # One warning per address, not one per request.
        assert len(refusals) == 1 and refusals[0]["log_level"] == "warning" and refusals[0]["address"] == STRANGER

        response = await client.post("/api/ip-filters", json={"address": STRANGER, "description": "HMI"}, headers=AUTH)
        assert response.status == 201
        filter_id = (await response.json())["id"]
        # Admitted at once, no restart; authentication still applies behind the filter.
        assert await _status(session, client.make_url("/api/engine/status")) == (204, "")
        assert (await _status(session, client.make_url("/metrics"), headers=AUTH))[0] == 200
        status, text = await _status(session, client.make_url("/api/engine"))
        assert (status, text) == (401, '{"error":"Unauthorized","status":401}')

        response = await client.put(f"/api/ip-filters/{filter_id}", json={"address": "127.0.0.3"}, headers=AUTH)
        assert response.status == 204
        await _assert_refused(session, client)
        await client.put(f"/api/ip-filters/{filter_id}", json={"address": "127.0.0.*"}, headers=AUTH)
        assert (await _status(session, client.make_url("/api/engine"), headers=AUTH))[0] == 200
        assert (await client.delete(f"/api/ip-filters/{filter_id}", headers=AUTH)).status == 204
        await _assert_refused(session, client)
        await client.post("/api/ip-filters", json={"address": "*"}, headers=AUTH)
        assert (await _status(session, client.make_url("/api/engine"), headers=AUTH))[0] == 200


async def test_server_on_every_interface(store: ConfigStore, runtime: RecordingRuntime) -> None:
    app = create_app(store, runtime, EngineInfo(data_directory=store.data_dir), ui=setup_web)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, host="0.0.0.0", port=0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        url = f"http://127.0.0.1:{port}/api/engine/status"
        async with stranger() as session:
            assert await _status(session, url) == (401, REFUSED)
            store.ip_filters.create_ip_filter({"address": STRANGER})
            assert await _status(session, url) == (204, "")
    finally:
        await runner.cleanup()


async def test_ignore_ip_filters(store: ConfigStore, runtime: RecordingRuntime) -> None:
    info = EngineInfo(data_directory=store.data_dir, ignore_ip_filters=True)
    async with api_client(store, runtime, info=info) as client, stranger() as session:
        assert (await _status(session, client.make_url("/api/engine"), headers=AUTH))[0] == 200
        engine_info = await (await client.get("/api/engine/info", headers=AUTH)).json()
        assert engine_info["ignoreIpFilters"] is True


async def test_mapped_filter_admits_an_ipv4_client(store: ConfigStore, runtime: RecordingRuntime) -> None:
    store.ip_filters.create_ip_filter({"address": f"::ffff:{STRANGER}"})
    async with api_client(store, runtime) as client, stranger() as session:
        assert await _status(session, client.make_url("/api/engine/status")) == (204, "")


@pytest.mark.skipif(not _can_bind("::", socket.AF_INET6), reason="no IPv6 on this system")
async def test_ipv4_filter_admits_a_mapped_client(store: ConfigStore, runtime: RecordingRuntime) -> None:
    # A dual-stack socket sees IPv4 clients as ::ffff:a.b.c.d.
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind(("::", 0))
    port = sock.getsockname()[1]
    app = create_app(store, runtime, EngineInfo(data_directory=store.data_dir), ui=setup_web)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    url = f"http://127.0.0.1:{port}/api/engine/status"
    try:
        async with stranger() as session:
            assert await _status(session, url) == (401, f"Access denied. IP ADDRESS ::ffff:{STRANGER} UNAUTHORIZED")
            store.ip_filters.create_ip_filter({"address": STRANGER})
            assert await _status(session, url) == (204, "")
            # Loopback in its mapped form is loopback.
            async with aiohttp.ClientSession() as local:
                store.ip_filters.delete_ip_filter(store.ip_filters.list_ip_filters()[0].id)
                assert await _status(local, url) == (204, "")
    finally:
        await runner.cleanup()


async def test_crud_and_validation(client: Client) -> None:
    assert await (await client.get("/api/ip-filters", headers=AUTH)).json() == []
    response = await client.post("/api/ip-filters", json={"address": "10.0.0.*", "description": "PLCs"}, headers=AUTH)
    assert response.status == 201
    created = await response.json()
    assert {key: created[key] for key in ("address", "description")} == {"address": "10.0.0.*", "description": "PLCs"}
    assert set(created) == {"id", "address", "description", "createdBy", "updatedBy", "createdAt", "updatedAt"}
    path = f"/api/ip-filters/{created['id']}"
    assert await (await client.get(path, headers=AUTH)).json() == created
    assert (await client.put(path, json={"address": "10.0.1.*", "description": None}, headers=AUTH)).status == 204
    updated = await (await client.get(path, headers=AUTH)).json()
    assert (updated["address"], updated["description"]) == ("10.0.1.*", "")
    assert [item["address"] for item in await (await client.get("/api/ip-filters", headers=AUTH)).json()] == [
        "10.0.1.*"
    ]

    response = await client.post("/api/ip-filters", json={"address": "10.0.1.*", "description": 2}, headers=AUTH)
    assert response.status == 400
    body = await response.json()
    assert body["errors"]["address"] == "already used by another IP filter"
    assert set(body["errors"]) == {"address", "description"}
    response = await client.post("/api/ip-filters", json={"address": "10.0.0.1/24 "}, headers=AUTH)
    assert set((await response.json())["errors"]) == {"address"}
    response = await client.post("/api/ip-filters", json={"description": "no address"}, headers=AUTH)
    assert set((await response.json())["errors"]) == {"address"}

    assert (await client.delete(path, headers=AUTH)).status == 204
    for method in ("GET", "DELETE"):
        assert (await client.request(method, path, headers=AUTH)).status == 404
    assert (await client.put(path, json={"address": "1.2.3.4"}, headers=AUTH)).status == 404
