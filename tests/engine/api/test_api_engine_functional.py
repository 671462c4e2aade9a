"""Engine routes: 3.9 nested and 3.8 flat settings, partial updates, info, status."""

from __future__ import annotations

import os

from config_fakes import AUTH, Client, RecordingRuntime, client_fixture, runtime_fixture, store_fixture  # noqa: F401

from engine.config import ConfigStore


async def test_get_engine(client: Client, store: ConfigStore) -> None:
    response = await client.get("/api/engine", headers=AUTH)
    body = await response.json()
    assert body["id"] == store.engine_id
    assert body["general"] == {"name": "OIBus"}
    assert body["webServer"] == {
        "port": 2223,
        "authTokenDuration": "7d",
        "https": {"enabled": False, "port": 2443, "keepHttp": True},
    }
    assert body["proxyServer"]["port"] == 9000 and body["proxyServer"]["forward"]["enabled"] is False
    assert body["logger"]["file"] == {"level": "info", "maxFileSize": 50, "numberOfFiles": 5}
    assert body["logger"]["syslog"]["protocol"] == "udp4"
    assert body["version"]


async def test_put_nested_and_flat(client: Client, store: ConfigStore) -> None:
    response = await client.put(
        "/api/engine",
        json={"general": {"name": "Plant"}, "logger": {"console": {"level": "debug"}}},
        headers=AUTH,
    )
    assert response.status == 204
    settings = store.engine_settings_dto()
    assert settings.general.name == "Plant" and settings.logger.console.level == "debug"
    assert settings.logger.file.level == "info"  # untouched section keeps its values
    # 3.8.8 flat shape.
    response = await client.put(
        "/api/engine",
        json={
            "name": "Flat",
            "port": 2300,
            "proxyEnabled": True,
            "proxyPort": 9100,
            "logParameters": {"file": {"level": "warn"}},
        },
        headers=AUTH,
    )
    assert response.status == 204
    settings = store.engine_settings_dto()
    assert (settings.general.name, settings.web_server.port) == ("Flat", 2300)
    assert (settings.proxy_server.enabled, settings.proxy_server.port) == (True, 9100)
    assert settings.logger.file.level == "warn"


async def test_put_every_error_at_once(client: Client, store: ConfigStore) -> None:
    response = await client.put(
        "/api/engine",
        json={
            "general": {"name": ""},
            "webServer": {"port": 70000, "authTokenDuration": "2d"},
            "logger": {"console": {"level": "loud"}},
        },
        headers=AUTH,
    )
    assert response.status == 400
    assert set((await response.json())["errors"]) == {
        "general.name",
        "webServer.port",
        "webServer.authTokenDuration",
        "logger.console.level",
    }
    assert store.engine_settings_dto().general.name == "OIBus"


async def test_partial_routes(client: Client, store: ConfigStore, runtime: RecordingRuntime) -> None:
    assert (await client.put("/api/engine/name", json={"name": "N2"}, headers=AUTH)).status == 204
    response = await client.put("/api/engine/web-server", json={"port": 2224}, headers=AUTH)
    assert await response.json() == {"needsRedirect": True, "newPort": 2224}
    response = await client.put("/api/engine/web-server", json={"port": 2224, "authTokenDuration": "1d"}, headers=AUTH)
    assert await response.json() == {"needsRedirect": False, "newPort": 2224}
    proxy = {"enabled": True, "port": 9001, "username": "p", "password": "proxy-pw"}
    assert (await client.put("/api/engine/proxy", json=proxy, headers=AUTH)).status == 204
    logger = {"loki": {"level": "info", "address": "http://loki", "password": "loki-pw"}}
    assert (await client.put("/api/engine/logger", json=logger, headers=AUTH)).status == 204
    body = await (await client.get("/api/engine", headers=AUTH)).json()
    assert body["general"]["name"] == "N2"
    assert body["webServer"] == {
        "port": 2224,
        "authTokenDuration": "1d",
        "https": {"enabled": False, "port": 2443, "keepHttp": True},
    }
    assert body["proxyServer"]["password"] == "" and body["logger"]["loki"]["password"] == ""
    settings = store.engine_settings()
    assert settings.proxy_server.password == "proxy-pw" and settings.logger.loki.password == "loki-pw"
    # The proxy may not take the web server's port.
    response = await client.put("/api/engine/proxy", json={"enabled": True, "port": 2224}, headers=AUTH)
    assert response.status == 400
    # Paths name the fields of the body sent: the section's own.
    assert (await response.json())["errors"] == {"port": "must differ from webServer.port"}


async def test_info(client: Client, store: ConfigStore) -> None:
    body = await (await client.get("/api/engine/info", headers=AUTH)).json()
    assert body["oibusId"] == store.engine_id and body["oibusName"] == "OIBus"
    assert body["processId"] == str(os.getpid())
    assert body["launcherVersion"] == "3.9.0"
    assert body["dataDirectory"] == str(store.data_dir)
    assert {"version", "hostname", "operatingSystem", "architecture", "platform", "binaryDirectory"} <= set(body)
    assert body["ignoreIpFilters"] is False and body["ignoreRemoteUpdate"] is False
