"""Scan mode routes: CRUD, refusals, the cron check, runtime reloads."""

from __future__ import annotations

from config_fakes import (  # noqa: F401
    AUTH,
    Client,
    RecordingRuntime,
    client_fixture,
    runtime_fixture,
    scan_mode_id,
    south_body,
    store_fixture,
)

from engine.config import ConfigStore


async def test_crud_and_reloads(client: Client, runtime: RecordingRuntime) -> None:
    modes = await (await client.get("/api/scan-modes", headers=AUTH)).json()
    assert len(modes) == 7
    response = await client.post(
        "/api/scan-modes", json={"name": "Fast", "description": "", "cron": "*/2 * * * * *"}, headers=AUTH
    )
    assert response.status == 201
    created = await response.json()
    assert runtime.calls == [("reload_scan_modes", "")]
    path = f"/api/scan-modes/{created['id']}"
    assert (await (await client.get(path, headers=AUTH)).json())["cron"] == "*/2 * * * * *"
    assert (await client.put(path, json={"name": "Fast", "cron": "*/3 * * * * *"}, headers=AUTH)).status == 204
    assert (await client.delete(path, headers=AUTH)).status == 204
    assert runtime.calls == [("reload_scan_modes", "")] * 3
    assert (await client.get(path, headers=AUTH)).status == 404


async def test_invalid_changes_call_nothing(client: Client, runtime: RecordingRuntime) -> None:
    response = await client.post("/api/scan-modes", json={"name": "Bad", "cron": "* * * * * * *"}, headers=AUTH)
    assert response.status == 400
    assert "cron" in (await response.json())["errors"]
    response = await client.put("/api/scan-modes/subscription", json={"name": "x", "cron": "* * * * * *"}, headers=AUTH)
    assert response.status == 400
    assert (await response.json()) == {"message": "The subscription scan mode cannot be changed"}
    assert runtime.calls == []


async def test_delete_in_use_is_refused(client: Client, store: ConfigStore) -> None:
    store.souths.create_south(south_body(store, name="Press", items=1))
    response = await client.delete(f"/api/scan-modes/{scan_mode_id(store)}", headers=AUTH)
    assert response.status == 400
    assert "South 'Press' (1 item)" in (await response.json())["message"]


async def test_verify(client: Client) -> None:
    response = await client.post("/api/scan-modes/verify", json={"cron": "*/10 * * * * *"}, headers=AUTH)
    body = await response.json()
    assert body["isValid"] is True and body["errorMessage"] == ""
    assert len(body["nextExecutions"]) == 3 and all(run.endswith("Z") for run in body["nextExecutions"])
    assert body["humanReadableForm"] == "every 10 seconds"
    response = await client.post("/api/scan-modes/verify", json={"cron": "0 0 0 ? * *"}, headers=AUTH)
    body = await response.json()
    assert body["isValid"] is False and "'?'" in body["errorMessage"] and body["nextExecutions"] == []
    response = await client.post("/api/scan-modes/verify", json={}, headers=AUTH)
    assert response.status == 400


async def test_verify_lists_as_many_runs_as_asked(client: Client) -> None:
    response = await client.post("/api/scan-modes/verify", json={"cron": "*/10 * * * * *", "count": 5}, headers=AUTH)
    runs = (await response.json())["nextExecutions"]
    assert len(runs) == 5 and runs == sorted(runs)
    for bad in (0, 11, "5"):
        response = await client.post("/api/scan-modes/verify", json={"cron": "* * * * * *", "count": bad}, headers=AUTH)
        assert response.status == 400, bad
        assert "count" in await response.text()
