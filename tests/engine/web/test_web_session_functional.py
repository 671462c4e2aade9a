"""The web UI's shell on a real socket: login, session cookie, CSRF, logout, redirects, IP filter, languages."""

from __future__ import annotations

import re

import aiohttp
from config_fakes import (  # noqa: F401
    AUTH,
    Client,
    RecordingRuntime,
    api_client,
    client_fixture,
    runtime_fixture,
    store_fixture,
)

from engine.api.routes_sse import routes as sse_routes
from engine.config import ConfigStore

PAGES = (
    "/",
    "/engine",
    "/south",
    "/north",
    "/logs",
    "/south/new",
    "/north/new",
    "/south/new/test-south",
    "/north/new/test-north",
)


def _hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found is not None, f"no hidden {name} in the page"
    return found.group(1)


async def _login(client: Client, password: str = "pass") -> str:
    """Log in through the form; return the page's CSRF token."""
    form = await (await client.get("/login")).text()
    response = await client.post(
        "/login",
        data={"login": "admin", "password": password, "csrf": _hidden(form, "csrf"), "next": "/south"},
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    assert response.headers["Location"] == "/south"
    cookie = response.headers["Set-Cookie"]
    assert "oibus_session=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    home = await (await client.get("/")).text()
    return _hidden(home, "csrf")


async def test_a_page_without_a_session_redirects_to_login(client: Client) -> None:
    for path in PAGES:
        response = await client.get(path, allow_redirects=False)
        assert response.status == 303, path
        assert response.headers["Location"].startswith("/login?next=")


async def test_login_opens_every_page_and_logout_closes_them(client: Client) -> None:
    csrf = await _login(client)
    for path in PAGES:
        response = await client.get(path)
        assert response.status == 200, path
        html = await response.text()
        assert '<nav aria-label="main">' in html
        assert response.headers["Cache-Control"] == "no-store"
    # The session cookie also opens the API for reads, as the pages' scripts need.
    assert (await client.get("/api/south")).status == 200
    # A write through the API with the cookie needs the CSRF header.
    assert (await client.post("/api/scan-modes", json={"name": "x", "cron": "* * * * * *"})).status == 403
    created = await client.post(
        "/api/scan-modes", json={"name": "x", "cron": "* * * * * *"}, headers={"X-CSRF-Token": csrf}
    )
    assert created.status == 201, await created.text()
    response = await client.post("/logout", data={"csrf": csrf}, allow_redirects=False)
    assert response.status == 303
    client.session.cookie_jar.clear()
    assert (await client.get("/", allow_redirects=False)).status == 303


async def test_wrong_password_shows_the_form_again(client: Client) -> None:
    form = await (await client.get("/login")).text()
    response = await client.post("/login", data={"login": "admin", "password": "nope", "csrf": _hidden(form, "csrf")})
    assert response.status == 401
    html = await response.text()
    assert "Wrong login or password." in html
    assert 'value="admin"' in html
    assert "nope" not in html


async def test_cross_site_form_posts_are_refused(client: Client) -> None:
    # Login without the form's token (a page of another site cannot read it).
    response = await client.post("/login", data={"login": "admin", "password": "pass", "csrf": "forged"})
    assert response.status == 403
    csrf = await _login(client)
    # Logout without the token: refused, the session stays.
    assert (await client.post("/logout", data={"csrf": "forged"}, allow_redirects=False)).status == 403
    assert (await client.post("/logout", data={}, allow_redirects=False)).status == 403
    assert (await client.get("/", allow_redirects=False)).status == 200
    assert csrf


async def test_login_redirect_stays_on_this_site(client: Client) -> None:
    form = await (await client.get("/login")).text()
    response = await client.post(
        "/login",
        data={"login": "admin", "password": "pass", "csrf": _hidden(form, "csrf"), "next": "//evil.example/x"},
        allow_redirects=False,
    )
    assert response.headers["Location"] == "/"


async def test_french_catalogue(client: Client) -> None:
    response = await client.get("/language/fr?next=/login")
    html = await response.text()
    assert "Mot de passe" in html
    await _login(client)
    assert "Accueil" in await (await client.get("/")).text()


async def test_basic_and_bearer_keep_working(client: Client) -> None:
    assert (await client.get("/api/south", headers=AUTH)).status == 200
    token = (await (await client.post("/api/users/authentication", headers=AUTH)).json())["access_token"]
    assert (await client.get("/api/south", headers={"Authorization": f"Bearer {token}"})).status == 200


async def test_addresses_outside_the_ip_filters_are_refused_everywhere(
    store: ConfigStore, runtime: RecordingRuntime
) -> None:
    # 127.0.0.2 is not the loopback address the filter always admits (see the API's IP filter tests).
    async with (
        api_client(store, runtime, extra_routes=[sse_routes]) as client,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))) as stranger,
    ):
        for path in ("/", "/login", "/south", "/static/app.css", "/static/vendor/htmx-2.0.11.min.js", "/sse/home"):
            async with stranger.get(client.make_url(path), allow_redirects=False) as response:
                assert response.status == 401, path
                assert "UNAUTHORIZED" in await response.text()
        async with stranger.post(client.make_url("/login"), data={"login": "admin", "password": "pass"}) as response:
            assert response.status == 401


async def test_every_page_names_the_stores_the_engine_runs_without(store: ConfigStore) -> None:
    from engine.info import EngineInfo

    info = EngineInfo(data_directory=store.data_dir)
    info.unavailable_stores.set("logs.db", "no space left on the data folder's disk (0 bytes free)")
    async with api_client(store, RecordingRuntime(), info=info) as client:
        await _login(client)
        for path in ("/", "/south"):
            page = await (await client.get(path)).text()
            assert "<li>logs.db: no space left on the data folder&#39;s disk (0 bytes free)</li>" in page, path
        info.unavailable_stores.clear("logs.db")
        assert "logs.db" not in await (await client.get("/")).text()
