"""The error middleware: JSON for every failure, bad JSON named, 500 logged and survived."""

from __future__ import annotations

from typing import Any

from config_fakes import AUTH, Client, RecordingRuntime, api_client, client_fixture, runtime_fixture, store_fixture  # noqa: F401

from engine.config import ConfigStore


async def test_unknown_api_route_and_method(client: Client) -> None:
    response = await client.get("/api/unknown", headers=AUTH)
    assert response.status == 404
    assert await response.json() == {"message": "Not Found"}
    response = await client.patch("/api/engine", headers=AUTH)
    assert response.status == 405
    assert "message" in await response.json()
    assert "Allow" in response.headers


async def test_bad_json_is_named(client: Client, runtime: RecordingRuntime) -> None:
    response = await client.post("/api/south", data=b'{"name": ', headers=AUTH)
    assert response.status == 400
    assert (await response.json())["message"].startswith("Invalid JSON payload:")
    response = await client.post("/api/south", data=b"", headers=AUTH)
    assert response.status == 400
    assert "empty" in (await response.json())["message"]
    assert runtime.calls == []


async def test_settings_error_shape(client: Client) -> None:
    response = await client.post("/api/scan-modes", json={"name": "", "cron": "x"}, headers=AUTH)
    assert response.status == 400
    body = await response.json()
    assert set(body) == {"message", "errors"}
    assert set(body["errors"]) == {"name", "cron"}
    assert body["message"] == "2 invalid fields: name, cron"


class _BrokenRuntime(RecordingRuntime):
    def connector_state(self, kind: str, connector_id: str) -> dict[str, Any]:
        raise RuntimeError("supervisor exploded")


async def test_unexpected_error_is_a_generic_500(store: ConfigStore) -> None:
    async with api_client(store, _BrokenRuntime()) as client:
        created = await client.post(
            "/api/north",
            json={
                "name": "N",
                "type": "test-north",
                "settings": {"outputFolder": "o"},
                "caching": {"trigger": {"scanModeName": "Every minute"}},
            },
            headers=AUTH,
        )
        assert created.status == 500
        assert await created.json() == {"message": "Internal server error"}
        # The engine keeps answering.
        assert (await client.get("/api/scan-modes", headers=AUTH)).status == 200
