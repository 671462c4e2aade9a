"""Scan modes in the store: seeded defaults, CRUD, validation, refusals."""

from __future__ import annotations

import pytest
from config_fakes import (
    north_body,
    scan_mode_id,
    south_body,
    store_fixture,  # noqa: F401
)

from connectors.errors import SettingsError
from engine.config import ConfigStore, NotFoundError, RefusedError


def test_seven_defaults_are_seeded(store: ConfigStore) -> None:
    modes = {mode.name: mode for mode in store.scan_modes.list_scan_modes()}
    assert {name: mode.cron for name, mode in modes.items()} == {
        "Every second": "* * * * * *",
        "Every 10 seconds": "*/10 * * * * *",
        "Every minute": "0 * * * * *",
        "Every 10 minutes": "0 */10 * * * *",
        "Every hour": "0 0 * * * *",
        "Every 24 hours": "0 0 0 * * *",
        "Subscription": "",
    }
    assert modes["Subscription"].id == "subscription"
    assert all(len(mode.id) == 6 and mode.id.isalnum() for name, mode in modes.items() if name != "Subscription")
    assert modes["Every hour"].created_by is not None and modes["Every hour"].created_by.id == "system"


def test_crud(store: ConfigStore) -> None:
    created = store.scan_modes.create_scan_mode(
        {"name": "Fast", "description": "d", "cron": "*/5 * * * * *"}, actor="u1"
    )
    assert store.scan_modes.get_scan_mode(created.id) == created
    updated = store.scan_modes.update_scan_mode(created.id, {"name": "Faster", "cron": " */2 * * * * * "})
    assert (updated.name, updated.cron, updated.description) == ("Faster", "*/2 * * * * *", "")
    store.scan_modes.delete_scan_mode(created.id)
    with pytest.raises(NotFoundError):
        store.scan_modes.get_scan_mode(created.id)


def test_every_error_at_once(store: ConfigStore) -> None:
    with pytest.raises(SettingsError) as caught:
        store.scan_modes.create_scan_mode({"name": "Every second", "description": 3, "cron": "0 0 L * * *"})
    assert set(caught.value.errors) == {"name", "description", "cron"}
    assert caught.value.errors["name"] == "already used by another scan mode"


def test_missing_cron_and_empty_cron(store: ConfigStore) -> None:
    with pytest.raises(SettingsError) as caught:
        store.scan_modes.create_scan_mode({"name": "x"})
    assert caught.value.errors == {"cron": "Empty cron expression"}
    with pytest.raises(SettingsError) as caught:
        store.scan_modes.create_scan_mode({"name": "x", "cron": ""})
    assert "cron" in caught.value.errors


def test_subscription_is_fixed(store: ConfigStore) -> None:
    with pytest.raises(RefusedError):
        store.scan_modes.update_scan_mode("subscription", {"name": "Sub", "cron": "* * * * * *"})
    with pytest.raises(RefusedError):
        store.scan_modes.delete_scan_mode("subscription")


def test_delete_in_use_names_the_users(store: ConfigStore) -> None:
    south = store.souths.create_south(south_body(store, name="Line 1", items=3))
    store.norths.create_north(north_body(store, name="Out"))
    with pytest.raises(RefusedError) as caught:
        store.scan_modes.delete_scan_mode(scan_mode_id(store, "Every second"))
    assert "South 'Line 1' (3 items)" in str(caught.value)
    with pytest.raises(RefusedError, match="North 'Out'"):
        store.scan_modes.delete_scan_mode(scan_mode_id(store, "Every minute"))
    store.souths.delete_south(south.id)
    store.scan_modes.delete_scan_mode(scan_mode_id(store, "Every second"))


def test_unknown_ids(store: ConfigStore) -> None:
    with pytest.raises(NotFoundError):
        store.scan_modes.update_scan_mode("nope", {"name": "x", "cron": "* * * * * *"})
    with pytest.raises(NotFoundError):
        store.scan_modes.delete_scan_mode("nope")
