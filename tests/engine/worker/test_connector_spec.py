"""The worker boundary: what ``Start`` carries is typed once, and a malformed spec names its field."""

from __future__ import annotations

import pytest

from connectors.errors import SettingsError
from engine.ipc import ConnectorSpec, HistorySpec, ItemSpec, Start, decode, encode
from engine.worker.runner import decode_connector

DTO = {
    "id": "s1",
    "name": "South one",
    "type": "folder-scanner",
    "enabled": True,
    "settings": {"inputFolder": "in"},
    "items": [
        {
            "id": "i1",
            "name": "Item one",
            "enabled": False,
            "settings": {"regex": ".*"},
            "scanMode": {"id": "every-second", "name": "Every second"},
            "scanModeId": "every-second",
            "groupId": None,
            "maxReadInterval": 600,
            "readDelay": 0,
            "startTimeOffset": -1000,
            "recoveryStrategy": "newest",
        }
    ],
    "history": {"startTime": "2026-01-01T00:00:00Z", "endTime": "2026-01-02T00:00:00Z", "maxReadInterval": 3600},
}


def test_the_stored_dto_decodes_into_typed_fields() -> None:
    spec = decode_connector(DTO)
    assert (spec.id, spec.name, spec.type) == ("s1", "South one", "folder-scanner")
    assert spec.settings == {"inputFolder": "in"}
    (item,) = spec.items
    assert item == ItemSpec(
        id="i1",
        name="Item one",
        enabled=False,
        settings={"regex": ".*"},
        scan_mode_id="every-second",
        max_read_interval=600,
        read_delay=0,
        start_time_offset=-1000,
        recovery_strategy="newest",
    )
    assert spec.history == HistorySpec(
        start_time="2026-01-01T00:00:00Z", end_time="2026-01-02T00:00:00Z", max_read_interval=3600
    )
    assert spec.caching is None


def test_a_spec_survives_the_wire_as_the_same_spec() -> None:
    spec = decode_connector(DTO)
    message = decode(encode(Start(role="south", connector=spec, data_dir="/d")))
    assert isinstance(message, Start)
    assert decode_connector(message.connector) == spec


@pytest.mark.parametrize(
    ("broken", "field"),
    [
        ({"items": [{"id": "i1"}]}, "$.items[0]"),
        ({"items": [{"id": "i1", "name": "x", "recoveryStrategy": "sideways"}]}, "$.items[0].recoveryStrategy"),
        ({"history": {"startTime": "2026-01-01T00:00:00Z"}}, "$.history"),
        ({"type": 7}, "$.type"),
    ],
)
def test_a_malformed_spec_is_a_settings_error_naming_the_field(broken: dict[str, object], field: str) -> None:
    with pytest.raises(SettingsError) as caught:
        decode_connector({**DTO, **broken})
    assert caught.value.errors.keys() == {"connector"}
    assert field in caught.value.errors["connector"]


def test_a_spec_is_used_as_it_is() -> None:
    spec = ConnectorSpec(id="n1", name="N", type="console")
    assert decode_connector(spec) is spec
