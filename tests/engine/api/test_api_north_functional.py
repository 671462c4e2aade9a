"""North routes: CRUD with caching and routing rules, transformers, runtime calls."""

from __future__ import annotations

from config_fakes import (  # noqa: F401
    AUTH,
    Client,
    RecordingRuntime,
    client_fixture,
    create_connector,
    north_body,
    runtime_fixture,
    south_body,
    store_fixture,
)

from engine.config import ConfigStore


async def test_types_and_manifest(client: Client) -> None:
    types = await (await client.get("/api/north/types", headers=AUTH)).json()
    assert types == [
        {
            "id": "test-north",
            "name": "Test North",
            "category": "debug",
            "description": "A North used by tests",
            "types": ["any", "time-values"],
        }
    ]
    assert (await client.get("/api/north/manifests/test-north", headers=AUTH)).status == 200
    assert (await client.get("/api/north/manifests/test-south", headers=AUTH)).status == 404


async def test_crud(client: Client, store: ConfigStore, runtime: RecordingRuntime) -> None:
    south = store.souths.create_south(south_body(store, items=1))
    body = north_body(store)
    body["transformers"] = [
        {
            "id": None,
            "transformerId": "ignore",
            "options": {},
            "source": {
                "type": "south",
                "southId": south.id,
                "items": [{"id": south.items[0].id, "name": "x", "enabled": True}],
            },
        }
    ]
    created = await create_connector(client, "north", body)
    north_id = created["id"]
    assert created["state"]["kind"] == "north"
    assert created["settings"]["token"] == ""
    assert created["caching"]["trigger"]["scanModeName"] == "Every minute"
    (rule,) = created["transformers"]
    assert rule["transformer"] == {
        "id": "ignore",
        "type": "standard",
        "functionName": "ignore",
        "inputType": "any",
        "outputType": "any",
    }
    assert rule["source"] == {
        "type": "south",
        "southId": south.id,
        "groupId": None,
        "items": [{"id": south.items[0].id, "name": "item-0", "enabled": True}],
    }
    listed = await (await client.get("/api/north", headers=AUTH)).json()
    assert [n["id"] for n in listed] == [north_id]
    got = await (await client.get(f"/api/north/{north_id}", headers=AUTH)).json()
    # GET then PUT works unchanged (DTO fields are accepted back: transformer {id}, source items).
    assert (await client.put(f"/api/north/{north_id}", json=got, headers=AUTH)).status == 204
    assert store.norths.get_north(north_id).settings["token"] == "north-token"
    assert [r.id for r in store.norths.north_dto(north_id).transformers] == [rule["id"]]
    assert (await client.post(f"/api/north/{north_id}/stop", headers=AUTH)).status == 204
    assert store.norths.north_dto(north_id).enabled is False
    assert (await client.post(f"/api/north/{north_id}/start", headers=AUTH)).status == 204
    assert (await client.delete(f"/api/north/{north_id}", headers=AUTH)).status == 204
    assert runtime.calls == [("reconcile_north", north_id)] * 5
    assert (await client.get(f"/api/north/{north_id}", headers=AUTH)).status == 404


async def test_transformer_routes(client: Client, store: ConfigStore, runtime: RecordingRuntime) -> None:
    north_id = (await create_connector(client, "north", north_body(store)))["id"]
    runtime.calls.clear()
    path = f"/api/north/{north_id}/transformers"
    rule = {"transformer": {"id": "iso"}, "source": {"type": "oibus-api", "dataSourceId": "scripts"}, "options": {}}
    assert (await client.post(path, json=rule, headers=AUTH)).status == 204
    (stored,) = store.norths.north_dto(north_id).transformers
    response = await client.post(
        path, json={"transformerId": "json-to-xml", "source": {"type": "oianalytics-setpoint"}}, headers=AUTH
    )
    assert response.status == 400
    assert list((await response.json())["errors"]) == ["transformerId"]
    assert (await client.delete(f"{path}/{stored.id}", headers=AUTH)).status == 204
    assert (await client.delete(f"{path}/{stored.id}", headers=AUTH)).status == 404
    assert runtime.calls == [("reconcile_north", north_id)] * 2


async def test_invalid_north(client: Client, store: ConfigStore, runtime: RecordingRuntime) -> None:
    body = north_body(
        store, settings={"outputFolder": ""}, caching={"trigger": {"scanModeId": "x"}, "error": {"retryCount": -1}}
    )
    body["transformers"] = [{"transformerId": "ignore", "source": {"type": "south", "southId": "ghost"}}]
    response = await client.post("/api/north", json=body, headers=AUTH)
    assert response.status == 400
    assert set((await response.json())["errors"]) == {
        "settings.outputFolder",
        "caching.trigger.scanModeId",
        "caching.error.retryCount",
        "transformers[0].source.southId",
    }
    assert store.norths.list_norths() == [] and runtime.calls == []


async def test_deleting_a_south_reconciles_norths_routing_from_it(
    client: Client, store: ConfigStore, runtime: RecordingRuntime
) -> None:
    south = store.souths.create_south(south_body(store, items=1))
    body = north_body(store)
    body["transformers"] = [{"transformerId": "iso", "source": {"type": "south", "southId": south.id}}]
    north_id = (await create_connector(client, "north", body))["id"]
    runtime.calls.clear()
    assert (await client.delete(f"/api/south/{south.id}", headers=AUTH)).status == 204
    assert runtime.calls == [("reconcile_south", south.id), ("reconcile_north", north_id)]
