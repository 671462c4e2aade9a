"""IP filters in the store: CRUD, unique addresses, every bad field at once, the live address snapshot."""

from __future__ import annotations

import pytest
from config_fakes import store_fixture  # noqa: F401

from connectors.errors import SettingsError
from engine.config import ConfigStore, NotFoundError


def test_crud_and_snapshot(store: ConfigStore) -> None:
    assert store.ip_filters.list_ip_filters() == [] and store.ip_filters.ip_filter_addresses() == ()
    created = store.ip_filters.create_ip_filter({"address": "192.168.1.*", "description": "plant network"})
    assert (created.address, created.description) == ("192.168.1.*", "plant network")
    assert created.created_by is not None and created.created_by.id == "system"
    assert store.ip_filters.get_ip_filter(created.id) == created
    assert store.ip_filters.ip_filter_addresses() == ("192.168.1.*",)
    other = store.ip_filters.create_ip_filter({"address": "::ffff:10.0.0.5", "description": None})
    assert other.description == ""
    before = store.ip_filters.ip_filter_addresses()
    assert before == ("192.168.1.*", "::ffff:10.0.0.5")
    store.ip_filters.update_ip_filter(created.id, {"address": "10.0.0.*"})
    after = store.ip_filters.ip_filter_addresses()
    assert after == ("10.0.0.*", "::ffff:10.0.0.5") and after is not before
    assert [f.address for f in store.ip_filters.list_ip_filters()] == ["10.0.0.*", "::ffff:10.0.0.5"]
    store.ip_filters.delete_ip_filter(other.id)
    assert store.ip_filters.ip_filter_addresses() == ("10.0.0.*",)
    with pytest.raises(NotFoundError):
        store.ip_filters.get_ip_filter(other.id)
    with pytest.raises(NotFoundError):
        store.ip_filters.delete_ip_filter(other.id)
    with pytest.raises(NotFoundError):
        store.ip_filters.update_ip_filter(other.id, {"address": "1.2.3.4"})


def test_validation(store: ConfigStore) -> None:
    for body, fields in (
        ({}, {"address"}),
        ({"address": ""}, {"address"}),
        ({"address": "10.0.0.1; rm"}, {"address"}),
        ({"address": "(a|b)"}, {"address"}),
        ({"address": 10, "description": 3}, {"address", "description"}),
        ("10.0.0.1", {"body"}),
    ):
        with pytest.raises(SettingsError) as caught:
            store.ip_filters.create_ip_filter(body)
        assert set(caught.value.errors) == fields, body
    assert store.ip_filters.ip_filter_addresses() == ()


def test_addresses_are_unique(store: ConfigStore) -> None:
    first = store.ip_filters.create_ip_filter({"address": "*"})
    with pytest.raises(SettingsError) as caught:
        store.ip_filters.create_ip_filter({"address": "*", "description": 1})
    assert caught.value.errors["address"] == "already used by another IP filter"
    assert set(caught.value.errors) == {"address", "description"}
    second = store.ip_filters.create_ip_filter({"address": "10.0.0.1"})
    with pytest.raises(SettingsError):
        store.ip_filters.update_ip_filter(second.id, {"address": "*"})
    store.ip_filters.update_ip_filter(first.id, {"address": "*", "description": "everyone"})
    assert store.ip_filters.get_ip_filter(first.id).description == "everyone"
