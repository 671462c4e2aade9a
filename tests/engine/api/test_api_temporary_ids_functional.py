"""Temporary ids (``temp_<x>``) in one command: upstream's UI creates groups and rules that way."""

from __future__ import annotations

from typing import Any

from config_fakes import (  # noqa: F401
    AUTH,
    Client,
    RecordingRuntime,
    client_fixture,
    create_connector,
    north_body,
    runtime_fixture,
    scan_mode_id,
    south_body,
    store_fixture,
)

from engine.config import ConfigStore

ITEMS = 300


def temp_group_body(store: ConfigStore) -> dict[str, Any]:
    """A South with two new groups named by temporary ids and 300 items, alternately in each."""
    body = south_body(store, items=ITEMS)
    body["groups"] = [
        {"id": "temp_1", "standardSettings": {"name": "Fast", "scanModeId": scan_mode_id(store)}},
        {"id": "temp_2", "standardSettings": {"name": "Slow", "scanModeName": "Every hour"}},
    ]
    for index, item in enumerate(body["items"]):
        item["groupId"] = f"temp_{index % 2 + 1}"
    return body


def assert_grouped(store: ConfigStore, south_id: str) -> None:
    south = store.souths.get_south(south_id)
    by_name = {group.standard_settings.name: group.id for group in south.groups}
    assert set(by_name) == {"Fast", "Slow"}
    assert not any(group_id.startswith("temp_") for group_id in by_name.values())
    assert len(south.items) == ITEMS
    for item in south.items:
        expected = "Fast" if int(item.name.split("-")[1]) % 2 == 0 else "Slow"
        assert item.group is not None and item.group.id == by_name[expected], item.name


async def test_post_with_temporary_group_ids(client: Client, store: ConfigStore) -> None:
    created = await create_connector(client, "south", temp_group_body(store))
    assert_grouped(store, created["id"])


async def test_put_with_temporary_group_ids(client: Client, store: ConfigStore) -> None:
    south_id = (await create_connector(client, "south", south_body(store, items=0)))["id"]
    response = await client.put(f"/api/south/{south_id}", json=temp_group_body(store), headers=AUTH)
    assert response.status == 204, await response.text()
    assert_grouped(store, south_id)
    # A later PUT that keeps the real group and adds a temporary one mixes both.
    got = await (await client.get(f"/api/south/{south_id}", headers=AUTH)).json()
    got["groups"].append({"id": "temp_new", "standardSettings": {"name": "New", "scanModeName": "Every hour"}})
    got["items"][0]["groupId"] = "temp_new"
    got["items"][0].pop("group", None)
    assert (await client.put(f"/api/south/{south_id}", json=got, headers=AUTH)).status == 204
    south = store.souths.get_south(south_id)
    assert len(south.groups) == 3
    first = next(item for item in south.items if item.name == got["items"][0]["name"])
    assert first.group is not None and first.group.name == "New"


async def test_one_temporary_id_for_two_groups_is_refused(client: Client, store: ConfigStore) -> None:
    body = temp_group_body(store)
    body["groups"][1]["id"] = "temp_1"
    response = await client.post("/api/south", json=body, headers=AUTH)
    assert response.status == 400
    errors = (await response.json())["errors"]
    assert errors["groups[1].id"] == "temporary id 'temp_1' is also used by groups[0]"
    # An unknown group is still named.
    body = temp_group_body(store)
    body["items"][5]["groupId"] = "temp_9"
    response = await client.post("/api/south", json=body, headers=AUTH)
    assert (await response.json())["errors"] == {"items[5].groupId": "unknown group 'temp_9'"}


async def test_north_transformers_with_temporary_ids(client: Client, store: ConfigStore) -> None:
    south = store.souths.create_south(south_body(store, items=1))
    body = north_body(store)
    rule = {
        "id": "temp_rule",
        "transformerId": "ignore",
        "options": {},
        "source": {"type": "south", "southId": south.id, "items": []},
    }
    body["transformers"] = [rule]
    created = await create_connector(client, "north", body)
    (saved,) = created["transformers"]
    assert saved["id"] and not saved["id"].startswith("temp_")
    # PUT keeps the real rule and adds another under a temporary id.
    body["transformers"] = [{**rule, "id": saved["id"]}, {**rule, "id": "temp_other", "transformerId": "iso"}]
    assert (await client.put(f"/api/north/{created['id']}", json=body, headers=AUTH)).status == 204
    rules = store.norths.north_dto(created["id"]).transformers
    assert rules[0].id == saved["id"] and not rules[1].id.startswith("temp_")
