"""South connectors in the store: CRUD with groups and items, validation, tolerant shapes."""

from __future__ import annotations

from typing import Any

import pytest
from config_fakes import (
    north_body,
    scan_mode_id,
    south_body,
    store_fixture,  # noqa: F401
)

from connectors.errors import SettingsError
from engine.config import ConfigStore, NotFoundError


def test_create_and_read_back(store: ConfigStore) -> None:
    south = store.souths.create_south(south_body(store, items=3), actor="u1")
    assert len(south.id) == 6 and south.id.isalnum()
    assert south.settings["host"] == "plc.local" and south.settings["port"] == 502  # default filled in
    assert [item.name for item in south.items] == ["item-0", "item-1", "item-2"]
    item = south.items[0]
    assert item.scan_mode.name == "Every second"
    # A history-capable type gets the history defaults when the command leaves them null.
    assert (item.max_read_interval, item.read_delay, item.start_time_offset, item.recovery_strategy) == (
        3600,
        200,
        0,
        "oldest",
    )
    assert south.created_at and south.created_at == south.updated_at
    assert [s.id for s in store.souths.list_souths()] == [south.id]


def test_every_error_at_once(store: ConfigStore) -> None:
    store.souths.create_south(south_body(store, name="Taken"))
    body = south_body(store, name="Taken", items=5)
    body["settings"]["port"] = "502"
    body["items"][1]["settings"] = {"scale": 2}
    body["items"][2]["scanModeId"] = "nope"
    body["items"][3]["name"] = "item-0"
    body["items"][4]["settings"]["key"] = 3
    with pytest.raises(SettingsError) as caught:
        store.souths.create_south(body)
    assert caught.value.errors == {
        "name": "already used by another South connector",
        "settings.port": "Expected `int`, got `str`",
        "items[1].settings.address": "Object missing required field `address`",
        "items[2].scanModeId": "unknown scan mode 'nope'",
        "items[3].name": "already used by items[0]",
        "items[4].settings.key": "Expected `str`, got `int`",
    }
    assert [s.name for s in store.souths.list_souths()] == ["Taken"]


def test_unknown_type_and_missing_fields(store: ConfigStore) -> None:
    with pytest.raises(SettingsError) as caught:
        store.souths.create_south({"name": "x", "type": "modbus-ng", "settings": {}})
    assert caught.value.errors == {"type": "unknown South connector type 'modbus-ng'"}
    with pytest.raises(SettingsError) as caught:
        store.souths.create_south({"enabled": "yes"})
    assert set(caught.value.errors) == {"name", "type", "settings", "enabled"}
    with pytest.raises(SettingsError) as caught:
        store.souths.create_south([1, 2])
    assert caught.value.errors == {"body": "Expected `object`, got `array`"}


def test_subscription_needs_a_subscribing_type(store: ConfigStore) -> None:
    body = south_body(store, items=1)
    body["items"][0]["scanModeId"] = "subscription"
    with pytest.raises(SettingsError) as caught:
        store.souths.create_south(body)
    assert caught.value.errors == {"items[0].scanModeId": "South type 'test-south' does not support subscription"}
    body["type"] = "test-subscription"
    assert store.souths.create_south(body).items[0].scan_mode.id == "subscription"


def test_groups_and_tolerant_shapes(store: ConfigStore) -> None:
    hour = scan_mode_id(store, "Every hour")
    body = south_body(store, items=0)
    body["groups"] = [{"id": None, "standardSettings": {"name": "G1", "scanModeName": "Every hour"}, "overlap": 500}]
    body["items"] = [
        # 3.9 DTO shape (scanMode object), 3.8 overlap, reference to a group of the same command by name.
        {"name": "a", "settings": {"address": "1"}, "scanMode": {"id": scan_mode_id(store)}, "overlap": 1000},
        {"name": "b", "settings": {"address": "2"}, "groupName": "G1", "syncWithGroup": True},
    ]
    south = store.souths.create_south(body)
    group = south.groups[0]
    assert group.standard_settings.scan_mode.id == hour
    assert group.history_settings.start_time_offset == -500
    items = {item.name: item for item in south.items}
    assert items["a"].start_time_offset == -1000
    assert items["b"].group is not None and items["b"].group.name == "G1"
    assert items["b"].scan_mode.id == hour  # an item of a group uses the group's scan mode
    assert items["b"].sync_with_group


def test_update_replaces_sets_keeps_ids_and_swaps_names(store: ConfigStore) -> None:
    south = store.souths.create_south(south_body(store, items=3))
    first, second, third = south.items
    body = south_body(store, name="Renamed", items=0)
    body["items"] = [
        {"id": first.id, "name": second.name, "settings": {"address": "x"}, "scanModeId": scan_mode_id(store)},
        {"id": second.id, "name": first.name, "settings": {"address": "y"}, "scanModeId": scan_mode_id(store)},
        {"id": None, "name": "new", "settings": {"address": "z"}, "scanModeId": scan_mode_id(store)},
    ]
    store.souths.update_south(south.id, body)
    after = store.souths.south_dto(south.id)
    assert after.name == "Renamed"
    by_id = {item.id: item for item in after.items}
    assert by_id[first.id].name == second.name and by_id[second.id].name == first.name
    assert third.id not in by_id
    assert len(by_id) == 3


def test_update_without_items_keeps_them(store: ConfigStore) -> None:
    south = store.souths.create_south(south_body(store, items=2))
    body = south_body(store)
    del body["items"]
    store.souths.update_south(south.id, body)
    assert len(store.souths.south_dto(south.id).items) == 2


def test_type_cannot_change(store: ConfigStore) -> None:
    south = store.souths.create_south(south_body(store))
    with pytest.raises(SettingsError) as caught:
        store.souths.update_south(south.id, south_body(store, type="test-subscription"))
    assert "type" in caught.value.errors


def test_item_endpoints(store: ConfigStore) -> None:
    south = store.souths.create_south(south_body(store, items=0))
    mode = scan_mode_id(store)
    item = store.souths.create_item(south.id, {"name": "x", "settings": {"address": "1"}, "scanModeId": mode})
    with pytest.raises(SettingsError) as caught:
        store.souths.create_item(south.id, {"name": "x", "settings": {}, "scanModeId": mode})
    assert caught.value.errors == {
        "name": "already used by another item of this South connector",
        "settings.address": "Object missing required field `address`",
    }
    updated = store.souths.update_item(
        south.id, item.id, {"name": "y", "enabled": False, "settings": {"address": "2"}, "scanModeId": mode}
    )
    assert (updated.name, updated.enabled, updated.settings["address"]) == ("y", False, "2")
    store.souths.set_items_enabled(south.id, [item.id], True)
    assert store.souths.get_item(south.id, item.id).enabled
    with pytest.raises(SettingsError) as caught:
        store.souths.set_items_enabled(south.id, [item.id, "ghost"], True)
    assert caught.value.errors == {"[1]": "unknown item 'ghost'"}
    with pytest.raises(NotFoundError):
        store.souths.update_item(south.id, "ghost", {"name": "z", "settings": {"address": "1"}, "scanModeId": mode})
    store.souths.delete_items(south.id, [item.id])
    assert store.souths.list_items(south.id) == []


def test_search_pages(store: ConfigStore) -> None:
    south = store.souths.create_south(south_body(store, items=120))
    store.souths.set_items_enabled(south.id, [item.id for item in south.items[:7]], False)
    page = store.souths.search_items(south.id, page=2)
    assert (page.size, page.number, page.total_elements, page.total_pages, len(page.content)) == (50, 2, 120, 3, 20)
    assert store.souths.search_items(south.id, name="item-11").total_elements == 11  # item-11, item-110..119
    assert store.souths.search_items(south.id, enabled=False).total_elements == 7
    assert store.souths.search_items(south.id, scan_mode_id="nope").total_elements == 0
    assert store.souths.search_items(south.id, name="%").total_elements == 0  # LIKE wildcards are literal


def test_search_sorts_on_the_server(store: ConfigStore) -> None:
    south = store.souths.create_south(south_body(store, items=60))
    group = store.souths.create_group(south.id, {"standardSettings": {"name": "A", "scanModeId": scan_mode_id(store)}})
    last = sorted(item.id for item in south.items)[:2]
    store.souths.move_items_to_group(south.id, last, group.id)
    store.souths.set_items_enabled(south.id, [south.items[5].id], False)
    names = [item.name for item in store.souths.search_items(south.id, sort="name", descending=True).content]
    assert names[:2] == ["item-9", "item-8"] and len(names) == 50
    assert [item.name for item in store.souths.search_items(south.id, sort="name", descending=True, page=1).content][
        -1
    ] == ("item-0")
    assert store.souths.search_items(south.id, sort="enabled").content[0].enabled is False
    # Ungrouped items sort first (NULL), so descending puts the two grouped ones on top.
    top = store.souths.search_items(south.id, sort="group", descending=True).content[:2]
    assert {item.id for item in top} == set(last)
    with pytest.raises(SettingsError) as caught:
        store.souths.search_items(south.id, sort="settings; DROP TABLE south_items")
    assert list(caught.value.errors) == ["sort"]


def test_connector_settings_is_light_and_blank(store: ConfigStore) -> None:
    south = store.souths.create_south(south_body(store, items=3))
    found = store.souths.connector_settings("south", south.id)
    assert (found.id, found.name, found.type) == (south.id, south.name, south.type)
    assert found.settings == store.souths.south_dto(south.id).settings
    assert "s3cret-pw" not in str(found.settings) and "tok-1" not in str(found.settings)
    assert not hasattr(found, "items")
    with pytest.raises(NotFoundError):
        store.souths.connector_settings("north", south.id)


def test_groups_crud_and_scan_mode_follow(store: ConfigStore) -> None:
    south = store.souths.create_south(south_body(store, items=0))
    group = store.souths.create_group(south.id, {"standardSettings": {"name": "G", "scanModeId": scan_mode_id(store)}})
    item = store.souths.create_item(south.id, {"name": "i", "settings": {"address": "1"}, "groupId": group.id})
    hour = scan_mode_id(store, "Every hour")
    store.souths.update_group(south.id, group.id, {"standardSettings": {"name": "G2", "scanModeId": hour}})
    assert store.souths.get_item(south.id, item.id).scan_mode.id == hour
    with pytest.raises(SettingsError) as caught:
        store.souths.create_group(south.id, {"standardSettings": {"name": "G2", "scanModeId": "nope"}})
    assert caught.value.errors == {
        "standardSettings.scanModeId": "unknown scan mode 'nope'",
        "standardSettings.name": "already used by another group of this South connector",
    }
    store.souths.delete_group(south.id, group.id)
    after = store.souths.get_item(south.id, item.id)
    assert after.group is None and after.scan_mode.id == hour
    with pytest.raises(NotFoundError):
        store.souths.get_group(south.id, group.id)


def test_delete_south_cascades_and_reports_norths(store: ConfigStore) -> None:
    south = store.souths.create_south(south_body(store, items=2))
    body = north_body(store)
    body["transformers"] = [{"transformerId": "ignore", "source": {"type": "south", "southId": south.id}}]
    north = store.norths.create_north(body)
    assert store.souths.delete_south(south.id) == (north.id,)
    assert store.norths.north_dto(north.id).transformers == []
    with pytest.raises(NotFoundError):
        store.souths.south_dto(south.id)


def test_bulk_ten_thousand_items(store: ConfigStore) -> None:
    body: dict[str, Any] = south_body(store, items=10_000)
    south = store.souths.create_south(body)
    assert len(south.items) == 10_000
    assert len({item.id for item in south.items}) == 10_000
    assert store.souths.search_items(south.id).total_elements == 10_000
