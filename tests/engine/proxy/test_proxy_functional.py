"""The built-in proxy on loopback: HTTPS tunnels, plain HTTP forwarding, IP filter, Basic auth, upstream chaining."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import msgspec
import pytest
from aiohttp import web
from engine_process import closed_port
from servers.tls import SelfSigned, self_signed

from engine.config.models import ProxyServerSettings
from engine.proxy import ProxyServer, ProxyService, ProxySpec


@dataclass
class Target:
    """An aiohttp server (HTTP and HTTPS) standing in for OIAnalytics or any site behind the proxy."""

    tls: SelfSigned
    http: str = ""
    https: str = ""
    seen: list[dict[str, str]] = field(default_factory=list)

    async def hello(self, request: web.Request) -> web.Response:
        self.seen.append(dict(request.headers))
        return web.Response(text=f"hello over {request.scheme}")

    async def echo(self, request: web.Request) -> web.Response:
        self.seen.append(dict(request.headers))
        return web.Response(body=await request.read(), headers={"X-Echo": "yes"})


def _port(site: web.TCPSite) -> int:
    server = site._server
    assert isinstance(server, asyncio.Server)
    port: int = server.sockets[0].getsockname()[1]
    return port


@pytest.fixture(name="target")
async def target_fixture(tmp_path: Path) -> AsyncIterator[Target]:
    target = Target(tls=self_signed(tmp_path / "tls"))
    app = web.Application()
    app.router.add_get("/hello", target.hello)
    app.router.add_post("/echo", target.echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    plain = web.TCPSite(runner, "127.0.0.1", 0)
    secure = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=target.tls.server_context())
    await plain.start()
    await secure.start()
    target.http = f"http://127.0.0.1:{_port(plain)}"
    target.https = f"https://localhost:{_port(secure)}"
    try:
        yield target
    finally:
        await runner.cleanup()


@asynccontextmanager
async def running(spec: ProxySpec, allows: Callable[[str], bool] = lambda _: True) -> AsyncIterator[str]:
    server = ProxyServer(spec, allows)
    await server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


def basic(login: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


async def fetch(
    url: str, proxy: str, target: Target, *, local: str | None = None, **kwargs: object
) -> tuple[int, str, dict[str, str]]:
    connector = aiohttp.TCPConnector(ssl=target.tls.client_context(), local_addr=(local, 0) if local else None)
    timeout = aiohttp.ClientTimeout(total=10)
    async with (
        aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
        session.request(str(kwargs.pop("method", "GET")), url, proxy=proxy, **kwargs) as response,  # type: ignore[arg-type]
    ):
        return response.status, await response.text(), dict(response.headers)


async def test_https_is_tunnelled(target: Target) -> None:
    async with running(ProxySpec(port=0, host="127.0.0.1")) as proxy:
        status, text, _ = await fetch(f"{target.https}/hello", proxy, target)
        assert (status, text) == (200, "hello over https")
        # A POST with a body through the tunnel too, twice on fresh connections.
        for payload in (b"x" * 300_000, b"small"):
            status, text, headers = await fetch(f"{target.https}/echo", proxy, target, method="POST", data=payload)
            assert (status, text.encode(), headers["X-Echo"]) == (200, payload, "yes")


async def test_plain_http_is_forwarded_without_hop_by_hop_headers(target: Target) -> None:
    async with running(ProxySpec(port=0, host="127.0.0.1", username="ot", password="s3cret")) as proxy:
        auth = {"Proxy-Authorization": basic("ot", "s3cret")}
        status, text, _ = await fetch(f"{target.http}/hello", proxy, target, headers=auth)
        assert (status, text) == (200, "hello over http")
        status, text, _ = await fetch(
            f"{target.http}/echo", proxy, target, method="POST", data=b'{"a": 1}', headers=auth
        )
        assert (status, text) == (200, '{"a": 1}')
    # The proxy's credentials never reach the target.
    assert target.seen and all("Proxy-Authorization" not in headers for headers in target.seen)


async def test_basic_authentication(target: Target) -> None:
    async with running(ProxySpec(port=0, host="127.0.0.1", username="ot", password="s3cret")) as proxy:
        for headers in ({}, {"Proxy-Authorization": basic("ot", "wrong")}, {"Proxy-Authorization": "Bearer x"}):
            status, _, answer = await fetch(f"{target.http}/hello", proxy, target, headers=headers)
            assert status == 407
            assert answer["Proxy-Authenticate"] == 'Basic realm="OIBus Proxy"'
        # A tunnel needs the credentials too.
        with pytest.raises(aiohttp.ClientHttpProxyError) as refused:
            await fetch(f"{target.https}/hello", proxy, target)
        assert refused.value.status == 407
        status, _, _ = await fetch(
            f"{target.https}/hello", proxy, target, proxy_headers={"Proxy-Authorization": basic("ot", "s3cret")}
        )
        assert status == 200
    assert len(target.seen) == 1


async def test_ip_filter(target: Target) -> None:
    admitted: set[str] = set()
    spec = ProxySpec(port=0, host="127.0.0.1")  # a client bound to 127.0.0.2 still reaches it over loopback
    async with running(spec, lambda address: address == "127.0.0.1" or address in admitted) as proxy:
        status, text, _ = await fetch(f"{target.http}/hello", proxy, target, local="127.0.0.2")
        assert (status, text.strip()) == (403, "Access denied. IP ADDRESS 127.0.0.2 UNAUTHORIZED")
        with pytest.raises(aiohttp.ClientHttpProxyError) as refused:
            await fetch(f"{target.https}/hello", proxy, target, local="127.0.0.2")
        assert refused.value.status == 403
        admitted.add("127.0.0.2")
        assert (await fetch(f"{target.https}/hello", proxy, target, local="127.0.0.2"))[0] == 200
    assert len(target.seen) == 1


async def test_upstream_proxy_chaining(target: Target) -> None:
    seen_by_upstream: list[str] = []

    def upstream_allows(address: str) -> bool:
        seen_by_upstream.append(address)
        return True

    upstream_spec = ProxySpec(port=0, host="127.0.0.1", username="it", password="upstream-pass")
    async with running(upstream_spec, upstream_allows) as upstream:
        wrong = ProxySpec(port=0, host="127.0.0.1", forward_url=upstream, forward_username="it")
        async with running(wrong) as proxy:
            assert (await fetch(f"{target.http}/hello", proxy, target))[0] == 407  # the upstream's answer
            with pytest.raises(aiohttp.ClientHttpProxyError) as refused:
                await fetch(f"{target.https}/hello", proxy, target)
            assert refused.value.status == 502
        chained = ProxySpec(
            port=0, host="127.0.0.1", forward_url=upstream, forward_username="it", forward_password="upstream-pass"
        )
        async with running(chained) as proxy:
            assert (await fetch(f"{target.https}/hello", proxy, target))[:2] == (200, "hello over https")
            assert (await fetch(f"{target.http}/hello", proxy, target))[:2] == (200, "hello over http")
    assert len(seen_by_upstream) == 4
    assert len(target.seen) == 2


async def test_bad_targets_are_explained(target: Target) -> None:
    async with running(ProxySpec(port=0, host="127.0.0.1")) as proxy:
        with closed_port() as closed:
            status, text, _ = await fetch(f"http://127.0.0.1:{closed}/x", proxy, target)
            assert status == 502 and f"cannot reach 127.0.0.1:{closed}" in text
            with pytest.raises(aiohttp.ClientHttpProxyError) as refused:
                await fetch(f"https://localhost:{closed}/x", proxy, target)
            assert refused.value.status == 502
        port = int(proxy.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /relative HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await asyncio.wait_for(reader.read(200), 5)
        assert head.startswith(b"HTTP/1.1 400") and b"absolute http://" in head
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        assert (await asyncio.wait_for(reader.read(200), 5)).startswith(b"HTTP/1.1 400")
        writer.close()


async def test_service_follows_the_settings(target: Target) -> None:
    def settings(**values: object) -> ProxyServerSettings:
        return msgspec.convert(values, ProxyServerSettings)

    service = ProxyService(lambda: (), ignore_ip_filters=False)
    async with asyncio.TaskGroup() as group:
        group.create_task(service.run(), name="test:proxy")
        # Port 0: the system assigns one at each (re)start of the proxy; ``server.port`` says which.
        service.apply(settings(enabled=True, port=0))
        await _until(lambda: service.server is not None)
        assert service.server is not None and service.server.port != 0
        proxy = f"http://127.0.0.1:{service.server.port}"
        assert (await fetch(f"{target.https}/hello", proxy, target))[0] == 200
        service.apply(settings(enabled=True, port=0, username="u", password="p"))
        await _until(lambda: service.server is not None and service.server.spec.username == "u")
        assert service.server is not None
        proxy = f"http://127.0.0.1:{service.server.port}"
        assert (await fetch(f"{target.http}/hello", proxy, target))[0] == 407
        service.apply(settings(enabled=False, port=0))
        await _until(lambda: service.server is None)
        with pytest.raises(aiohttp.ClientConnectionError):
            await fetch(f"{target.http}/hello", proxy, target)
        service.stop()


async def _until(predicate: Callable[[], bool]) -> None:
    """Poll the service's state: it changes in its own task, with no event to wait on."""
    for _ in range(1000):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("proxy service did not follow the settings")
