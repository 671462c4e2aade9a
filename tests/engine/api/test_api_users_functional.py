"""User routes on a real socket: CRUD, validation naming every bad field, passwords, current user, flags."""

from __future__ import annotations

from typing import Any

from config_fakes import (  # noqa: F401
    AUTH,
    Client,
    RecordingRuntime,
    api_client,
    basic,
    bearer,
    client_fixture,
    login_token,
    runtime_fixture,
    store_fixture,
)
from structlog.testing import capture_logs

from engine.config import ConfigStore


def _user(login: str = "operator", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "login": login,
        "firstName": "Ada",
        "lastName": "Lovelace",
        "email": "ada@example.com",
        "language": "fr",
        "timezone": "Europe/Paris",
        "password": "op-pw",
    }
    body.update(extra)
    return body


async def _admin_id(client: Client) -> str:
    response = await client.get("/api/users/current-user", headers=AUTH)
    user_id: str = (await response.json())["id"]
    return user_id


async def test_crud(client: Client) -> None:
    response = await client.post("/api/users", json=_user(), headers=AUTH)
    assert response.status == 201
    created = await response.json()
    assert set(created) == {
        "id",
        "login",
        "firstName",
        "lastName",
        "email",
        "language",
        "timezone",
        "friendlyName",
        "createdBy",
        "updatedBy",
        "createdAt",
        "updatedAt",
    }
    assert (created["login"], created["language"], created["friendlyName"]) == ("operator", "fr", "Ada Lovelace")
    assert created["createdBy"]["id"] == await _admin_id(client)
    user_id = created["id"]

    response = await client.get(f"/api/users/{user_id}", headers=AUTH)
    assert (response.status, await response.json()) == (200, created)

    update = {"login": "operator2", "firstName": None, "lastName": None, "language": "en", "timezone": "UTC"}
    assert (await client.put(f"/api/users/{user_id}", json=update, headers=AUTH)).status == 204
    updated = await (await client.get(f"/api/users/{user_id}", headers=AUTH)).json()
    # PUT replaces the whole profile: the email left out is gone.
    assert (updated["login"], updated["friendlyName"], updated["email"]) == ("operator2", "operator2", None)
    # The new login works with the unchanged password.
    assert (await client.get("/api/engine", headers=basic("operator2", "op-pw"))).status == 200

    page = await (await client.get("/api/users", headers=AUTH)).json()
    assert (page["totalElements"], page["totalPages"], page["size"], page["number"]) == (2, 1, 50, 0)
    assert [user["login"] for user in page["content"]] == ["admin", "operator2"]
    filtered = await (await client.get("/api/users", params={"login": "oper", "page": "0"}, headers=AUTH)).json()
    assert [user["login"] for user in filtered["content"]] == ["operator2"]
    assert (await (await client.get("/api/users?page=1", headers=AUTH)).json())["content"] == []

    assert (await client.delete(f"/api/users/{user_id}", headers=AUTH)).status == 204
    response = await client.get(f"/api/users/{user_id}", headers=AUTH)
    assert response.status == 404 and "not found" in (await response.json())["message"]
    assert (await client.delete(f"/api/users/{user_id}", headers=AUTH)).status == 404
    assert (await client.put(f"/api/users/{user_id}", json=update, headers=AUTH)).status == 404
    assert (await client.get("/api/engine", headers=basic("operator2", "op-pw"))).status == 401


async def test_upstream_create_body(client: Client) -> None:
    body = _user()
    password = body.pop("password")
    response = await client.post("/api/users", json={"user": body, "password": password}, headers=AUTH)
    assert response.status == 201
    assert (await client.get("/api/engine", headers=basic("operator", "op-pw"))).status == 200


async def test_every_bad_field_is_named(client: Client) -> None:
    response = await client.post(
        "/api/users",
        json={"login": "ab", "email": "nope", "language": "de", "timezone": "Mars/Olympus", "lastName": 5},
        headers=AUTH,
    )
    assert response.status == 400
    body = await response.json()
    assert set(body["errors"]) == {"login", "email", "language", "timezone", "lastName", "password"}
    assert body["message"].startswith("6 invalid fields")
    admin_id = await _admin_id(client)
    response = await client.put(f"/api/users/{admin_id}", json={"login": "a:b", "language": 1}, headers=AUTH)
    assert response.status == 400
    assert set((await response.json())["errors"]) == {"login", "language"}
    response = await client.post("/api/users", json=_user("admin"), headers=AUTH)
    assert (await response.json())["errors"] == {"login": "already used by another user"}
    response = await client.post("/api/users", data=b"{", headers=AUTH)
    assert response.status == 400
    assert (await client.get("/api/users?page=-1", headers=AUTH)).status == 400


async def test_the_last_user_cannot_be_deleted(client: Client) -> None:
    response = await client.delete(f"/api/users/{await _admin_id(client)}", headers=AUTH)
    assert response.status == 400
    assert await response.json() == {"message": "The last user cannot be deleted"}


async def test_passwords_never_leave_the_engine(client: Client) -> None:
    created = await client.post("/api/users", json=_user(), headers=AUTH)
    user_id = (await created.json())["id"]
    texts = [await created.text()]
    for path in ("/api/users", f"/api/users/{user_id}", "/api/users/current-user"):
        texts.append(await (await client.get(path, headers=AUTH)).text())
    for text in texts:
        assert "argon2" not in text and "op-pw" not in text and '"password"' not in text


async def test_change_password(client: Client) -> None:
    created = await (await client.post("/api/users", json=_user(), headers=AUTH)).json()
    path = f"/api/users/{created['id']}/password"
    operator = basic("operator", "op-pw")
    token = await login_token(client, operator)
    response = await client.post(path, json={"currentPassword": "wrong", "newPassword": "x"}, headers=AUTH)
    assert response.status == 400
    assert set((await response.json())["errors"]) == {"currentPassword"}
    response = await client.post(path, json={"newPassword": ""}, headers=AUTH)
    assert set((await response.json())["errors"]) == {"newPassword"}
    response = await client.post(path, json={}, headers=AUTH)
    assert set((await response.json())["errors"]) == {"newPassword"}
    assert (await client.post("/api/users/nobody/password", json={"newPassword": "x"}, headers=AUTH)).status == 404
    # Nothing changed so far.
    assert (await client.get("/api/engine", headers=bearer(token))).status == 200
    response = await client.post(path, json={"currentPassword": "op-pw", "newPassword": "n3w"}, headers=operator)
    assert response.status == 204
    assert (await client.get("/api/engine", headers=operator)).status == 401
    assert (await client.get("/api/engine", headers=bearer(token))).status == 401
    assert (await client.get("/api/engine", headers=basic("operator", "n3w"))).status == 200


async def test_current_user_and_default_password_flag(client: Client, store: ConfigStore) -> None:
    response = await client.get("/api/users/current-user", headers=AUTH)
    assert response.status == 200
    current = await response.json()
    assert current["login"] == "admin" and current["defaultPasswordInUse"] is True
    info = await (await client.get("/api/engine/info", headers=AUTH)).json()
    assert info["defaultPasswordInUse"] is True and info["ignoreIpFilters"] is False
    # Another user sees the flag too: the engine is open to admin/pass whoever asks.
    await client.post("/api/users", json=_user(), headers=AUTH)
    other = await (await client.get("/api/users/current-user", headers=basic("operator", "op-pw"))).json()
    assert other["login"] == "operator" and other["defaultPasswordInUse"] is True

    path = f"/api/users/{current['id']}/password"
    assert (await client.post(path, json={"newPassword": "s3cret"}, headers=AUTH)).status == 204
    new_auth = basic("admin", "s3cret")
    current = await (await client.get("/api/users/current-user", headers=new_auth)).json()
    assert current["defaultPasswordInUse"] is False
    info = await (await client.get("/api/engine/info", headers=new_auth)).json()
    assert info["defaultPasswordInUse"] is False
    token = await login_token(client, new_auth)
    via_token = await (await client.get("/api/users/current-user", headers=bearer(token))).json()
    assert via_token["id"] == current["id"]


async def test_default_password_warning_at_start(store: ConfigStore, runtime: RecordingRuntime) -> None:
    with capture_logs() as logs:
        async with api_client(store, runtime) as client:
            # The check runs beside the start; the application awaits it when it stops.
            await client.get("/api/users/current-user", headers=AUTH)
    warnings = [entry for entry in logs if entry["event"] == "default_password_in_use"]
    assert len(warnings) == 1 and warnings[0]["log_level"] == "warning"
    store.users.set_user_password("admin", "s3cret")
    with capture_logs() as logs:
        async with api_client(store, runtime) as client:
            await client.get("/api/users/current-user", headers=basic("admin", "s3cret"))
    assert not [entry for entry in logs if entry["event"] == "default_password_in_use"]
