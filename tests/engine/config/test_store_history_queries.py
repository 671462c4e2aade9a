"""History queries in the store: validation naming every field, secrets sealed and blank, copies, items."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from config_fakes import FAST_HASHER

from connectors.common.sql.settings import SqlItemSettings
from connectors.errors import SettingsError
from engine.config.errors import NotFoundError
from engine.config.history_csv import history_items_from_csv, history_items_to_csv
from engine.config.store import ConfigStore
from engine.config.validation import convert

SECRET = "pg-pw-b41c"
ITEM = {"query": "SELECT ts, v FROM t WHERE ts > @StartTime AND ts <= @EndTime"}


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with ConfigStore.open(tmp_path, init=None, password_hasher=FAST_HASHER) as opened:
        yield opened


def body(**extra: Any) -> dict[str, Any]:
    return {
        "name": "backfill",
        "queryTimeRange": {"startTime": "2025-01-01T00:00:00Z", "endTime": "2025-02-01T00:00:00Z"},
        "southType": "postgresql",
        "southSettings": {"host": "db", "database": "plant", "username": "oibus", "password": SECRET},
        "northType": "file-writer",
        "northSettings": {"outputFolder": "out"},
        "items": [{"name": "minutes", "settings": ITEM}],
        **extra,
    }


def test_a_query_is_stored_pending_with_its_secret_sealed_and_shown_blank(store: ConfigStore, tmp_path: Path) -> None:
    created = store.history_queries.create_history_query(body())
    assert created.status == "PENDING"
    assert created.south_settings["password"] == ""
    assert created.query_time_range.max_read_interval == 3600 and created.query_time_range.read_delay == 200
    assert [item.name for item in created.items] == ["minutes"]
    assert store.history_queries.get_history_query(created.id).south_settings["password"] == SECRET
    with sqlite3.connect(tmp_path / "oibus.db") as db:
        assert SECRET not in str(db.execute("SELECT south_settings FROM history_queries").fetchall())
    # An update with the secret left empty keeps it.
    store.history_queries.update_history_query(
        created.id, body(southSettings={**body()["southSettings"], "password": ""})
    )
    assert store.history_queries.get_history_query(created.id).south_settings["password"] == SECRET


def test_every_bad_field_is_named_and_nothing_is_stored(store: ConfigStore) -> None:
    bad = body(
        queryTimeRange={"startTime": "2025-02-01T00:00:00Z", "endTime": "2025-01-01T00:00:00Z"},
        southSettings={"port": "x"},
        northType="nowhere",
        items=[{"name": "a", "settings": {}}, {"name": "a", "settings": ITEM}],
    )
    with pytest.raises(SettingsError) as raised:
        store.history_queries.create_history_query(bad)
    errors = raised.value.errors
    assert "queryTimeRange.endTime" in errors and "after startTime" in errors["queryTimeRange.endTime"]
    assert "southSettings.port" in errors
    assert errors["northType"] == "unknown North connector type 'nowhere'"
    assert "items[0].settings.query" in errors
    assert errors["items[1].name"] == "another item is already named 'a'"
    with pytest.raises(SettingsError) as raised:
        store.history_queries.create_history_query(
            body(southType="folder-scanner", southSettings={"inputFolder": "in"})
        )
    assert raised.value.errors["southType"] == "South type 'folder-scanner' cannot read history"
    with pytest.raises(SettingsError) as raised:
        store.history_queries.create_history_query(
            body(queryTimeRange={"startTime": "soon", "endTime": "2025-01-01T00:00:00Z"})
        )
    assert "ISO-8601" in raised.value.errors["queryTimeRange.startTime"]
    assert store.history_queries.list_history_queries() == []


def test_a_copy_of_a_south_and_a_north_keeps_their_secrets(store: ConfigStore) -> None:
    mode = next(mode.id for mode in store.scan_modes.list_scan_modes() if mode.name == "Every hour")
    south = store.souths.create_south(
        {
            "name": "plant",
            "type": "postgresql",
            "enabled": False,
            "settings": body()["southSettings"],
            "items": [{"name": "minutes", "scanModeId": mode, "settings": ITEM}],
        }
    )
    north = store.norths.create_north(
        {
            "name": "files",
            "type": "file-writer",
            "enabled": False,
            "settings": {"outputFolder": "there"},
            "caching": {"trigger": {"scanModeId": mode}},
        }
    )
    copy = {"name": "copy", "queryTimeRange": body()["queryTimeRange"]}
    created = store.history_queries.create_history_query(copy, from_south=south.id, from_north=north.id)
    assert (created.south_type, created.north_type) == ("postgresql", "file-writer")
    assert created.north_settings["outputFolder"] == "there"
    assert created.caching.trigger.scan_mode_id == mode
    assert [item.name for item in created.items] == ["minutes"]
    assert created.south_settings["password"] == ""
    assert store.history_queries.get_history_query(created.id).south_settings["password"] == SECRET
    with pytest.raises(NotFoundError):
        store.history_queries.create_history_query({**copy, "name": "other"}, from_south="nope")


def test_items_are_saved_imported_by_name_and_deleted(store: ConfigStore) -> None:
    created = store.history_queries.create_history_query(body())
    added = store.history_queries.save_history_item(created.id, {"name": "hours", "settings": ITEM})
    assert sorted(item.name for item in store.history_queries.history_query_dto(created.id).items) == [
        "hours",
        "minutes",
    ]
    with pytest.raises(SettingsError):
        store.history_queries.save_history_item(created.id, {"name": "minutes", "settings": ITEM})
    store.history_queries.set_history_item_enabled(created.id, added.id, False)
    assert not next(i for i in store.history_queries.history_query_dto(created.id).items if i.id == added.id).enabled
    text = history_items_to_csv(
        [{"name": "hours", "enabled": True, "settings": {**ITEM, "query": "SELECT 2"}}], SqlItemSettings, ","
    )
    commands = history_items_from_csv(SqlItemSettings, text, ",")
    assert store.history_queries.import_history_items(created.id, commands, delete_missing=True) == 1
    (item,) = store.history_queries.history_query_dto(created.id).items
    assert (item.id, item.settings["query"]) == (added.id, "SELECT 2")  # updated by name, id kept
    with pytest.raises(SettingsError) as raised:
        history_items_from_csv(SqlItemSettings, "name,enabled\nx,maybe\n", ",")
    assert "line 2.enabled" in raised.value.errors
    store.history_queries.delete_history_items(created.id)
    assert store.history_queries.history_query_dto(created.id).items == []
    assert convert(store.history_queries.history_status(created.id), str) == "PENDING"
    store.history_queries.set_history_status(created.id, "RUNNING")
    assert store.history_queries.history_status(created.id) == "RUNNING"
    store.history_queries.delete_history_query(created.id)
    with pytest.raises(NotFoundError):
        store.history_queries.history_query_dto(created.id)
