"""North connectors in the store: caching, routing rules, validation."""

from __future__ import annotations

import msgspec
import pytest
from config_fakes import (
    north_body,
    scan_mode_id,
    south_body,
    store_fixture,  # noqa: F401
)

from connectors.errors import SettingsError
from engine.config import ConfigStore, NotFoundError
from engine.config.models import STANDARD_TRANSFORMERS, StandardTransformerDTO


def test_create_with_rules(store: ConfigStore) -> None:
    south = store.souths.create_south(south_body(store, items=3))
    body = north_body(store)
    body["caching"] = {"trigger": {"scanModeName": "Every hour", "numberOfElements": 10}, "archive": {"enabled": True}}
    body["transformers"] = [
        {
            "transformerId": "ignore",
            "source": {"type": "south", "southId": south.id, "items": [{"id": south.items[0].id}]},
        },
        {"transformer": {"id": "iso"}, "source": {"type": "oibus-api", "dataSourceId": "scripts"}, "options": {}},
        {"transformerId": "iso", "source": {"type": "oianalytics-setpoint"}},
    ]
    north = store.norths.create_north(body)
    assert north.caching.trigger.scan_mode_id == scan_mode_id(store, "Every hour")
    assert north.caching.trigger.scan_mode_name == "Every hour"
    assert north.caching.trigger.number_of_elements == 10 and north.caching.archive.enabled
    assert north.caching.throttling.run_min_delay == 200  # defaults filled in
    first, second, third = north.transformers
    assert isinstance(first.transformer, StandardTransformerDTO) and first.transformer.function_name == "ignore"
    assert msgspec.to_builtins(first.transformer)["type"] == "standard"
    assert first.source.__struct_config__.tag == "south"
    assert [ref.name for ref in first.source.items] == ["item-0"]  # type: ignore[union-attr]
    assert second.source.data_source_id == "scripts"  # type: ignore[union-attr]
    assert third.source.__struct_config__.tag == "oianalytics-setpoint"


def test_every_error_at_once(store: ConfigStore) -> None:
    store.norths.create_north(north_body(store, name="Taken"))
    body = north_body(store, name="Taken")
    body["settings"] = {"token": 5}
    body["caching"] = {"trigger": {"scanModeId": "nope"}, "throttling": {"maxSize": -1}}
    body["transformers"] = [
        {"transformerId": "time-values-to-xml", "source": {"type": "south", "southId": "ghost"}},
        {"transformerId": "iso", "source": {"type": "elsewhere"}},
        {"transformerId": "iso"},
        {
            "transformerId": "time-values-to-mqtt",
            "source": {"type": "oibus-api", "dataSourceId": "plant"},
            "options": {"mapping": [{"pointId": "p1", "topic": "plant/#"}, {"topic": "t"}]},
        },
    ]
    with pytest.raises(SettingsError) as caught:
        store.norths.create_north(body)
    available = ", ".join(STANDARD_TRANSFORMERS)
    assert caught.value.errors == {
        "name": "already used by another North connector",
        "settings.outputFolder": "Object missing required field `outputFolder`",
        "settings.token": "Expected `str`, got `int`",
        "caching.trigger.scanModeId": "unknown scan mode 'nope'",
        "caching.throttling.maxSize": "Expected `int` >= 0",
        "transformers[0].transformerId": (
            f"unknown transformer 'time-values-to-xml' (available: {available}, or a custom transformer's id)"
        ),
        "transformers[0].source.southId": "unknown South connector 'ghost'",
        "transformers[1].source.type": "Invalid value 'elsewhere'",
        "transformers[2].source": "Object missing required field `source`",
        "transformers[3].options.mapping[0].topic": "Expected `str` matching regex '^[^#+]+$'",
        "transformers[3].options.mapping[1].pointId": "Object missing required field `pointId`",
    }


def test_bad_trigger(store: ConfigStore) -> None:
    body = north_body(store)
    body["caching"] = {"trigger": {"scanModeId": "nope"}}
    with pytest.raises(SettingsError) as caught:
        store.norths.create_north(body)
    assert caught.value.errors == {"caching.trigger.scanModeId": "unknown scan mode 'nope'"}
    body["caching"] = {"trigger": {"scanModeId": "subscription"}}
    with pytest.raises(SettingsError):
        store.norths.create_north(body)
    body["caching"] = {"trigger": {"scanModeName": "Never"}}
    with pytest.raises(SettingsError) as caught:
        store.norths.create_north(body)
    assert caught.value.errors == {"caching.trigger.scanModeName": "unknown scan mode 'Never'"}


def test_rule_references_are_checked(store: ConfigStore) -> None:
    south = store.souths.create_south(south_body(store, items=1))
    other = store.souths.create_south(south_body(store, name="Other", items=1))
    body = north_body(store)
    body["transformers"] = [
        {
            "transformerId": "iso",
            "source": {"type": "south", "southId": south.id, "groupId": "g0", "items": [{"id": other.items[0].id}]},
        }
    ]
    with pytest.raises(SettingsError) as caught:
        store.norths.create_north(body)
    assert set(caught.value.errors) == {"transformers[0].source.groupId", "transformers[0].source.items[0].id"}


def test_upsert_and_delete_rule(store: ConfigStore) -> None:
    north = store.norths.create_north(north_body(store))
    rule = store.norths.upsert_north_transformer(
        north.id, {"transformerId": "iso", "source": {"type": "oibus-api", "dataSourceId": "a"}}
    )
    store.norths.upsert_north_transformer(
        north.id, {"transformerId": "ignore", "source": {"type": "oianalytics-setpoint"}}
    )
    replaced = store.norths.upsert_north_transformer(
        north.id, {"id": rule.id, "transformerId": "ignore", "source": {"type": "oibus-api", "dataSourceId": "b"}}
    )
    assert replaced.id == rule.id
    rules = store.norths.north_dto(north.id).transformers
    assert (rules[0].id, rules[0].transformer.id) == (rule.id, "ignore")  # kept its place
    assert len(rules) == 2
    store.norths.delete_north_transformer(north.id, rule.id)
    assert len(store.norths.north_dto(north.id).transformers) == 1
    with pytest.raises(NotFoundError):
        store.norths.delete_north_transformer(north.id, rule.id)


def test_item_scoped_rule_never_widens(store: ConfigStore) -> None:
    south = store.souths.create_south(south_body(store, items=2))
    body = north_body(store)
    body["transformers"] = [
        {
            "transformerId": "ignore",
            "source": {"type": "south", "southId": south.id, "items": [{"id": south.items[0].id}]},
        },
        {"transformerId": "iso", "source": {"type": "south", "southId": south.id}},
    ]
    north = store.norths.create_north(body)
    assert store.souths.delete_items(south.id, [south.items[0].id]) == (north.id,)
    rules = store.norths.north_dto(north.id).transformers
    # The ignore rule lost its only item: it is gone rather than now ignoring the whole South.
    assert [r.transformer.id for r in rules] == ["iso"]


def test_update_keeps_rules_when_left_out_and_enable(store: ConfigStore) -> None:
    north = store.norths.create_north(
        north_body(store, transformers=[{"transformerId": "iso", "source": {"type": "oianalytics-setpoint"}}])
    )
    body = north_body(store, name="Renamed", enabled=False)
    del body["transformers"]
    store.norths.update_north(north.id, body)
    after = store.norths.north_dto(north.id)
    assert (after.name, after.enabled, len(after.transformers)) == ("Renamed", False, 1)
    store.norths.set_north_enabled(north.id, True)
    assert store.norths.north_dto(north.id).enabled
    store.norths.delete_north(north.id)
    assert store.norths.list_norths() == []
    with pytest.raises(NotFoundError):
        store.norths.update_north(north.id, body)
