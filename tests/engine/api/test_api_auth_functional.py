"""Basic auth on /api: 401 rules, public status routes, the verified-credentials cache."""

from __future__ import annotations

import pytest
from config_fakes import AUTH, Client, basic, client_fixture, runtime_fixture, store_fixture  # noqa: F401

from engine.config import ConfigStore


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic("admin", "wrong"),
        basic("nobody", "pass"),
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Basic " + "YWRtaW4="},  # "admin" without a colon
        {"Authorization": "Bearer abc"},
    ],
)
async def test_refused_without_valid_credentials(client: Client, headers: dict[str, str]) -> None:
    for method, path in (("GET", "/api/engine"), ("POST", "/api/south"), ("GET", "/api/nothing-here")):
        response = await client.request(method, path, headers=headers)
        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == 'Basic realm="Secure Area"'
        assert await response.json() == {"error": "Unauthorized", "status": 401}


async def test_public_status_routes(client: Client) -> None:
    for path in ("/api/engine/status", "/api/status"):
        response = await client.get(path)
        assert response.status == 204
    # Only reading them is public.
    assert (await client.post("/api/engine/status")).status == 401


async def test_valid_credentials(client: Client) -> None:
    response = await client.get("/api/engine", headers=AUTH)
    assert response.status == 200


async def test_credentials_verified_once(client: Client, store: ConfigStore, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    verify = store.verify_password

    def counting(password_hash: str, password: str) -> bool:
        calls.append(password)
        return verify(password_hash, password)

    monkeypatch.setattr(store, "verify_password", counting)
    for _ in range(5):
        assert (await client.get("/api/scan-modes", headers=AUTH)).status == 200
    assert calls == ["pass"]
    # A wrong password is verified each time (never cached).
    for _ in range(2):
        assert (await client.get("/api/scan-modes", headers=basic("admin", "nope"))).status == 401
    assert calls == ["pass", "nope", "nope"]


async def test_changed_password_is_refused_at_once(client: Client, store: ConfigStore) -> None:
    assert (await client.get("/api/engine", headers=AUTH)).status == 200
    store.set_user_password("admin", "n3w")
    assert (await client.get("/api/engine", headers=AUTH)).status == 401
    assert (await client.get("/api/engine", headers=basic("admin", "n3w"))).status == 200


async def test_changes_record_the_user(client: Client, store: ConfigStore) -> None:
    response = await client.post("/api/scan-modes", json={"name": "Mine", "cron": "* * * * * *"}, headers=AUTH)
    assert response.status == 201
    created = await response.json()
    found = store.password_hash("admin")
    assert found is not None
    assert created["createdBy"] == {"id": found[0], "friendlyName": "admin"}


async def test_non_api_paths_are_not_authenticated(client: Client) -> None:
    response = await client.get("/not-api")
    assert response.status == 404
