"""Authentication on real sockets: every 401/403 rule of upstream, tokens, the credentials cache, throttling."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web
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

from engine.api.content import routes as content_routes
from engine.api.metrics import routes as metrics_routes
from engine.api.routes_logs import routes as logs_routes
from engine.api.throttle import LoginThrottle
from engine.api.tokens import TokenSigner
from engine.config import ConfigStore
from engine.web import is_web_route

UNAUTHORIZED = {"error": "Unauthorized", "status": 401}
INVALID_TOKEN = {"error": "Invalid token", "status": 403}
INVALID_CREDENTIALS = {"error": "Invalid credentials", "status": 403}
CHALLENGE = 'Basic realm="Secure Area"'
PUBLIC = {("GET", "/api/engine/status"), ("GET", "/api/status")}


@dataclass
class FakeClock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(name="full_client")
async def full_client_fixture(store: ConfigStore, runtime: RecordingRuntime) -> AsyncIterator[Client]:
    """A client of the API with every route the engine serves (ingestion, metrics and logs too)."""
    async with api_client(store, runtime, extra_routes=[content_routes, metrics_routes, logs_routes]) as live:
        yield live


def _routes(app: web.Application) -> list[tuple[str, str]]:
    """Every (method, path) the application serves, path parameters filled in."""
    found = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if path is None or route.method == "HEAD" or is_web_route(route):
            continue
        found.append((route.method, re.sub(r"\{[^}]+\}", "x1", str(path))))
    return sorted(found)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic("admin", "wrong"),
        basic("nobody", "pass"),
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Basic " + "YWRtaW4="},  # "admin" without a colon
        {"Authorization": "Digest abc"},
    ],
)
async def test_refused_without_valid_credentials(client: Client, headers: dict[str, str]) -> None:
    for method, path in (("GET", "/api/engine"), ("POST", "/api/south"), ("GET", "/api/nothing-here")):
        response = await client.request(method, path, headers=headers)
        assert response.status == 401
        assert response.headers["WWW-Authenticate"] == CHALLENGE
        assert await response.json() == UNAUTHORIZED


async def test_every_api_route_needs_credentials(full_client: Client) -> None:
    assert full_client.app is not None
    served = _routes(full_client.app)
    assert ("GET", "/metrics") in served and ("GET", "/api/users/current-user") in served
    assert len(served) > 70
    for method, path in served:
        response = await full_client.request(method, path)
        if (method, path) in PUBLIC:
            assert response.status == 204, path
        elif path == "/api/users/authentication":
            assert response.status == 403, path
            assert "WWW-Authenticate" not in response.headers
        else:
            assert response.status == 401, f"{method} {path}"
            assert response.headers["WWW-Authenticate"] == CHALLENGE
            assert await response.json() == UNAUTHORIZED


async def test_public_status_routes(client: Client) -> None:
    for path in ("/api/engine/status", "/api/status"):
        response = await client.get(path)
        assert response.status == 204
    # Only reading them is public.
    assert (await client.post("/api/engine/status")).status == 401


async def test_metrics_refuses_anonymous_clients(full_client: Client) -> None:
    response = await full_client.get("/metrics")
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == CHALLENGE
    assert (await full_client.get("/metrics", headers=basic("admin", "nope"))).status == 401
    assert (await full_client.get("/metrics", headers=AUTH)).status == 200
    assert (await full_client.get("/metrics", headers=bearer(await login_token(full_client)))).status == 200


async def test_valid_credentials(client: Client) -> None:
    response = await client.get("/api/engine", headers=AUTH)
    assert response.status == 200


async def test_login_gives_a_token_accepted_everywhere(client: Client, store: ConfigStore) -> None:
    response = await client.post("/api/users/authentication", headers=AUTH)
    assert response.status == 200
    body = await response.json()
    assert list(body) == ["access_token"]
    token = body["access_token"]
    for path in ("/api/engine", "/api/scan-modes", "/api/users", "/api/ip-filters", "/api/engine/info"):
        assert (await client.get(path, headers=bearer(token))).status == 200, path
    current = await client.get("/api/users/current-user", headers=bearer(token))
    found = store.users.password_hash("admin")
    assert found is not None
    assert (await current.json())["id"] == found[0]
    # A token still valid buys a fresh one, as upstream.
    assert await login_token(client, bearer(token))


async def test_token_claims_and_lifetime_follow_the_settings(client: Client, store: ConfigStore) -> None:
    assert (await client.put("/api/engine/web-server", json={"authTokenDuration": "1h"}, headers=AUTH)).status == 200
    token = await login_token(client)
    header, payload, _ = token.split(".")
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {"alg": "HS256", "typ": "JWT"}
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["iss"] == "oibus" and claims["login"] == "admin"
    found = store.users.password_hash("admin")
    assert found is not None
    # The token proves the password without carrying its hash (upstream puts the hash in its JWT).
    assert claims["sub"] == found[0] and "$argon2" not in json.dumps(claims)


async def test_bad_login_credentials_are_403_without_challenge(client: Client) -> None:
    for headers in ({}, basic("admin", "wrong"), basic("nobody", "pass"), {"Authorization": "Basic ???"}):
        response = await client.post("/api/users/authentication", headers=headers)
        assert response.status == 403
        assert "WWW-Authenticate" not in response.headers
        assert await response.json() == INVALID_CREDENTIALS
    response = await client.post("/api/users/authentication", headers=bearer("not.a.token"))
    assert response.status == 403
    assert "WWW-Authenticate" not in response.headers
    assert await response.json() == INVALID_TOKEN


async def test_bad_tokens_are_403(client: Client, store: ConfigStore) -> None:
    found = store.users.password_hash("admin")
    assert found is not None
    user_id, password_hash = found
    good = await login_token(client)
    header, payload, signature = good.split(".")
    forged = TokenSigner(b"k" * 32).issue(user_id=user_id, login="admin", password_hash=password_hash, lifetime_s=60)
    expired = TokenSigner(store.token_key, clock=lambda: time.time() - 86_400).issue(
        user_id=user_id, login="admin", password_hash=password_hash, lifetime_s=60
    )
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    tampered_claims = base64.urlsafe_b64encode(b'{"iss":"oibus","sub":"x"}').rstrip(b"=").decode()
    for token in (
        "abc",
        "",
        forged,
        expired,
        f"{none_header}.{payload}.",
        f"{none_header}.{payload}.{signature}",
        f"{header}.{tampered_claims}.{signature}",
        good[:-2],
        good + "é",
    ):
        response = await client.get("/api/engine", headers=bearer(token))
        assert response.status == 403, token
        assert await response.json() == INVALID_TOKEN
        assert response.headers["WWW-Authenticate"] == CHALLENGE
    assert (await client.get("/api/engine", headers=bearer(good))).status == 200


async def test_token_invalid_once_the_password_changes(client: Client, store: ConfigStore) -> None:
    token = await login_token(client)
    found = store.users.password_hash("admin")
    assert found is not None
    response = await client.post(f"/api/users/{found[0]}/password", json={"newPassword": "n3w-pw"}, headers=AUTH)
    assert response.status == 204
    # A well-signed token for a password that changed is refused like bad credentials, as upstream.
    response = await client.get("/api/engine", headers=bearer(token))
    assert response.status == 401
    assert await response.json() == UNAUTHORIZED
    response = await client.post("/api/users/authentication", headers=bearer(token))
    assert (response.status, await response.json()) == (403, INVALID_CREDENTIALS)
    # The old Basic pair too, although it was cached; the new one works, and so do its tokens.
    assert (await client.get("/api/engine", headers=AUTH)).status == 401
    new_token = await login_token(client, basic("admin", "n3w-pw"))
    assert (await client.get("/api/engine", headers=bearer(new_token))).status == 200


async def test_setting_the_same_password_again_still_revokes_tokens(client: Client, store: ConfigStore) -> None:
    token = await login_token(client)
    store.users.set_user_password("admin", "pass")
    assert (await client.get("/api/engine", headers=bearer(token))).status == 401
    assert (await client.get("/api/engine", headers=AUTH)).status == 200


async def test_token_of_a_deleted_user_is_refused(client: Client) -> None:
    created = await client.post(
        "/api/users", json={"login": "operator", "password": "op-pw", "language": "fr"}, headers=AUTH
    )
    assert created.status == 201
    user_id = (await created.json())["id"]
    token = await login_token(client, basic("operator", "op-pw"))
    assert (await client.get("/api/engine", headers=bearer(token))).status == 200
    assert (await client.delete(f"/api/users/{user_id}", headers=AUTH)).status == 204
    assert (await client.get("/api/engine", headers=bearer(token))).status == 401
    assert (await client.get("/api/engine", headers=basic("operator", "op-pw"))).status == 401


async def test_sse_accepts_a_token_in_the_query(client: Client) -> None:
    token = await login_token(client)
    # No /sse route is served here: past authentication, aiohttp answers 404.
    assert (await client.get("/sse/home")).status == 401
    assert (await client.get("/sse/home", params={"token": "bad"})).status == 403
    assert (await client.get("/sse/home", params={"token": token})).status == 404
    # Elsewhere a token travels in the header only (URLs end up in logs and histories).
    assert (await client.get("/api/engine", params={"token": token})).status == 401


async def test_credentials_verified_once(client: Client, store: ConfigStore, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    verify = store.users.verify_password

    def counting(password_hash: str, password: str) -> bool:
        calls.append(password)
        return verify(password_hash, password)

    monkeypatch.setattr(store.users, "verify_password", counting)
    for _ in range(5):
        assert (await client.get("/api/scan-modes", headers=AUTH)).status == 200
    assert calls == ["pass"]
    # A wrong password is verified each time (never cached).
    for _ in range(2):
        assert (await client.get("/api/scan-modes", headers=basic("admin", "nope"))).status == 401
    assert calls == ["pass", "nope", "nope"]
    # Tokens never reach argon2.
    token = await login_token(client)
    for _ in range(3):
        assert (await client.get("/api/scan-modes", headers=bearer(token))).status == 200
    assert calls == ["pass", "nope", "nope"]


async def test_concurrent_requests_share_one_verification(
    client: Client, store: ConfigStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    verify = store.users.verify_password

    def counting(password_hash: str, password: str) -> bool:
        calls.append(password)
        return verify(password_hash, password)

    monkeypatch.setattr(store.users, "verify_password", counting)
    answers = await asyncio.gather(*(client.get("/api/scan-modes", headers=AUTH) for _ in range(20)))
    assert [answer.status for answer in answers] == [200] * 20
    assert calls == ["pass"]


async def test_changed_password_is_refused_at_once(client: Client, store: ConfigStore) -> None:
    assert (await client.get("/api/engine", headers=AUTH)).status == 200
    store.users.set_user_password("admin", "n3w")
    assert (await client.get("/api/engine", headers=AUTH)).status == 401
    assert (await client.get("/api/engine", headers=basic("admin", "n3w"))).status == 200


async def test_failed_logins_are_throttled_per_address_and_login(store: ConfigStore, runtime: RecordingRuntime) -> None:
    clock = FakeClock()
    throttle = LoginThrottle(max_failures=3, window_s=60, lockout_s=120, clock=clock)
    async with api_client(store, runtime, throttle=throttle) as client:
        token = await login_token(client)
        with capture_logs() as logs:
            for _ in range(2):
                assert (await client.get("/api/engine", headers=basic("admin", "guess"))).status == 401
            # Failures on the login route count too.
            assert (await client.post("/api/users/authentication", headers=basic("admin", "guess"))).status == 403
            for headers in (basic("admin", "guess"), AUTH):
                response = await client.get("/api/engine", headers=headers)
                assert response.status == 429
                assert response.headers["Retry-After"] == "120"
                assert "WWW-Authenticate" not in response.headers
                assert await response.json() == {"error": "Too many failed logins", "status": 429}
            response = await client.post("/api/users/authentication", headers=AUTH)
            assert response.status == 429
            # Another login from the same address is not concerned.
            assert (await client.get("/api/engine", headers=basic("nobody", "x"))).status == 401
        failures = [entry for entry in logs if entry["event"] == "api_authentication_failed"]
        assert len(failures) == 4 and all(entry["log_level"] == "warning" for entry in failures)
        locked = [entry for entry in logs if entry["event"] == "api_login_locked_out"]
        assert len(locked) == 1 and locked[0]["log_level"] == "warning"
        assert locked[0]["address"] == "127.0.0.1"
        # A token proves an earlier login: it keeps working during the lockout.
        assert (await client.get("/api/engine", headers=bearer(token))).status == 200
        clock.now += 60
        assert (await client.get("/api/engine", headers=AUTH)).status == 429
        assert (await client.get("/api/engine", headers=AUTH)).headers["Retry-After"] == "60"
        clock.now += 61
        assert (await client.get("/api/engine", headers=AUTH)).status == 200


async def test_failures_outside_the_window_are_forgotten(store: ConfigStore, runtime: RecordingRuntime) -> None:
    clock = FakeClock()
    throttle = LoginThrottle(max_failures=3, window_s=60, lockout_s=120, clock=clock)
    async with api_client(store, runtime, throttle=throttle) as client:
        for _ in range(10):
            assert (await client.get("/api/engine", headers=basic("admin", "typo"))).status == 401
            clock.now += 31
        # A success wipes the slate.
        assert (await client.get("/api/engine", headers=basic("admin", "typo"))).status == 401
        assert (await client.get("/api/engine", headers=AUTH)).status == 200
        assert (await client.get("/api/engine", headers=basic("admin", "typo"))).status == 401
        assert (await client.get("/api/engine", headers=basic("admin", "typo"))).status == 401
        assert (await client.get("/api/engine", headers=AUTH)).status == 200


async def test_changes_record_the_user(client: Client, store: ConfigStore) -> None:
    response = await client.post("/api/scan-modes", json={"name": "Mine", "cron": "* * * * * *"}, headers=AUTH)
    assert response.status == 201
    created = await response.json()
    found = store.users.password_hash("admin")
    assert found is not None
    assert created["createdBy"] == {"id": found[0], "friendlyName": "admin"}


async def test_non_api_paths_are_not_authenticated(client: Client) -> None:
    response = await client.get("/not-api")
    assert response.status == 404
