"""NamespaceDecoder on hand-built payloads: births, aliases, sequence numbers, deaths, routing, point ids."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from sparkplug_payloads import payload

from connectors.base import Item
from connectors.common.sparkplug import DataType
from connectors.south.sparkplug.decoder import NamespaceDecoder, subscription_topics
from connectors.south.sparkplug.manifest import SparkplugItemSettings, SparkplugSettings

NOW = 1_767_225_700_000
T0 = 1_767_225_600_000


def item(item_id: str, **settings: Any) -> Item[SparkplugItemSettings]:
    return Item(item_id, item_id, True, msgspec.convert(settings, SparkplugItemSettings))


def decoder(*items: Item[SparkplugItemSettings]) -> NamespaceDecoder:
    made = NamespaceDecoder("{group}/{node}/{device}/{metric}", "{group}/{node}/{metric}")
    made.set_items(list(items) or [item("all")])
    return made


def born(dec: NamespaceDecoder, node: str = "n1", device: str = "d1") -> None:
    """NBIRTH (seq 0, bdSeq 7) then DBIRTH (seq 1) declaring temp (alias 1, double) and on (alias 2, boolean)."""
    birth = payload(
        0, ("Node Control/Rebirth", None, DataType.BOOLEAN, False), ("uptime", 9, DataType.INT64, 5), bd_seq=7
    )
    assert dec.decode(f"spBv1.0/g/NBIRTH/{node}", birth, NOW).rebirth is None
    device_birth = payload(1, ("temp", 1, DataType.DOUBLE, 20.0), ("on", 2, DataType.BOOLEAN, False))
    assert dec.decode(f"spBv1.0/g/DBIRTH/{node}/{device}", device_birth, NOW).rebirth is None


def test_births_declare_aliases_and_their_values_are_handed_over() -> None:
    dec = decoder()
    birth = payload(
        0, ("Node Control/Rebirth", None, DataType.BOOLEAN, False), ("uptime", 9, DataType.INT64, -5), bd_seq=3
    )
    node = dec.decode("spBv1.0/g/NBIRTH/n1", birth, NOW)
    assert node.born and node.rebirth is None
    # bdSeq and Node Control metrics are the protocol's, not values
    assert node.values == [{"pointId": "g/n1/uptime", "timestamp": "2026-01-01T00:00:00.000Z", "data": {"value": -5}}]
    device = dec.decode("spBv1.0/g/DBIRTH/n1/d1", payload(1, ("temp", 1, DataType.DOUBLE, 20.0)), NOW)
    assert [v["pointId"] for v in device.values] == ["g/n1/d1/temp"]
    data = payload(2, (None, 1, DataType.DOUBLE, 21.5), (None, 9, DataType.INT64, 6))
    assert dec.decode("spBv1.0/g/DDATA/n1/d1", data, NOW).rebirth == "DDATA uses alias 9 that no birth declared"
    node_data = dec.decode("spBv1.0/g/NDATA/n1", payload(3, (None, 9, DataType.INT64, 6), timestamp=T0 + 5), NOW)
    assert node_data.rebirth is None
    assert node_data.values == [
        {"pointId": "g/n1/uptime", "timestamp": "2026-01-01T00:00:00.005Z", "data": {"value": 6}}
    ]


def test_data_values_of_every_type_by_alias_and_by_name() -> None:
    dec = decoder()
    born(dec)
    data = payload(
        2,
        (None, 1, DataType.DOUBLE, 21.5),
        (None, 2, DataType.BOOLEAN, True),
        ("temp", None, 0, 22.5),  # by name, no data type: the birth's
        ("new", None, DataType.INT32, -3),
        ("raw", None, DataType.BYTES, b"\x00\x01"),
        ("gone", None, DataType.STRING, None),
        ("f", None, DataType.FLOAT, 0.5),
    )
    decoded = dec.decode("spBv1.0/g/DDATA/n1/d1", data, NOW)
    assert decoded.rebirth is None
    assert [(v["pointId"].rsplit("/", 1)[1], v["data"]["value"]) for v in decoded.values] == [
        ("temp", 21.5),
        ("on", True),
        ("temp", 22.5),
        ("new", -3),
        ("raw", "AAE="),
        ("gone", None),
        ("f", 0.5),
    ]


def test_data_before_any_birth_asks_for_a_rebirth_and_its_aliases_are_dropped() -> None:
    dec = decoder()
    decoded = dec.decode("spBv1.0/g/DDATA/n1/d1", payload(5, (None, 1, DataType.DOUBLE, 1.0)), NOW)
    assert decoded.rebirth == "DDATA before any NBIRTH of the node"
    assert decoded.values == [] and decoded.node == ("g", "n1")
    born(dec)
    after = dec.decode("spBv1.0/g/DDATA/n1/d1", payload(2, (None, 1, DataType.DOUBLE, 1.0)), NOW)
    assert after.rebirth is None and after.values[0]["data"]["value"] == 1.0


@pytest.mark.parametrize(
    ("seq", "reason"),
    [
        (3, "sequence gap: DDATA seq 3, expected 2"),
        (1, "sequence gap: DDATA seq 1, expected 2"),
        (None, "DDATA without a sequence number"),
    ],
)
def test_a_sequence_gap_asks_for_a_rebirth_but_keeps_the_values(seq: int | None, reason: str) -> None:
    dec = decoder()
    born(dec)
    decoded = dec.decode("spBv1.0/g/DDATA/n1/d1", payload(seq, (None, 1, DataType.DOUBLE, 3.0)), NOW)
    assert decoded.rebirth == reason
    assert [v["data"]["value"] for v in decoded.values] == [3.0]


def test_the_sequence_wraps_after_255_across_node_and_device_messages() -> None:
    dec = decoder()
    born(dec)
    for n in range(2, 600):
        topic = "spBv1.0/g/NDATA/n1" if n % 7 == 0 else "spBv1.0/g/DDATA/n1/d1"
        alias = 9 if n % 7 == 0 else 1
        assert dec.decode(topic, payload(n % 256, (None, alias, DataType.INT64, n)), NOW).rebirth is None


def test_a_death_forgets_the_node_but_a_stale_one_does_not() -> None:
    dec = decoder()
    born(dec)
    stale = dec.decode("spBv1.0/g/NDEATH/n1", payload(None, bd_seq=6), NOW)
    assert stale.event is None
    assert dec.decode("spBv1.0/g/DDATA/n1/d1", payload(2, (None, 1, DataType.DOUBLE, 1.0)), NOW).rebirth is None
    death = dec.decode("spBv1.0/g/NDEATH/n1", payload(None, bd_seq=7), NOW)
    assert death.event == "edge node offline (NDEATH)"
    after = dec.decode("spBv1.0/g/DDATA/n1/d1", payload(3, (None, 1, DataType.DOUBLE, 1.0)), NOW)
    assert after.rebirth == "DDATA before any NBIRTH of the node" and after.values == []


def test_a_device_rebirth_replaces_its_aliases() -> None:
    dec = decoder()
    born(dec)
    dec.decode("spBv1.0/g/DBIRTH/n1/d1", payload(2, ("other", 5, DataType.STRING, "x")), NOW)
    decoded = dec.decode("spBv1.0/g/DDATA/n1/d1", payload(3, (None, 1, DataType.DOUBLE, 1.0)), NOW)
    assert decoded.rebirth == "DDATA uses alias 1 that no birth declared"


def test_items_route_by_group_node_and_device_and_templates_build_point_ids() -> None:
    only_d2 = item("d2", groupId="g", edgeNodeId="n1", deviceId="d2", nodeMetrics=False)
    nodes = item("nodes", edgeNodeId="n1", deviceId="none-such")
    dec = NamespaceDecoder("{device}.{metric}", "{node}:{metric}")
    dec.set_items([only_d2, nodes])
    born(dec, device="d1")
    d2 = dec.decode("spBv1.0/g/DBIRTH/n1/d2", payload(2, ("t", 1, DataType.DOUBLE, 1.0)), NOW)
    assert d2.items == ["d2"] and [v["pointId"] for v in d2.values] == ["d2.t"]
    d1 = dec.decode("spBv1.0/g/DDATA/n1/d1", payload(3, (None, 1, DataType.DOUBLE, 1.0)), NOW)
    assert d1.items == [] and d1.values == [] and d1.rebirth is None  # state kept, values not wanted
    node = dec.decode("spBv1.0/g/NDATA/n1", payload(4, (None, 9, DataType.INT64, 1)), NOW)
    assert node.items == ["nodes"] and node.values[0]["pointId"] == "n1:uptime"
    other_group = dec.decode("spBv1.0/h/NBIRTH/n1", payload(0, ("x", 1, DataType.INT64, 1)), NOW)
    assert other_group.items == ["nodes"]
    assert subscription_topics([only_d2, nodes]) == ["spBv1.0/+/+/n1/#", "spBv1.0/g/+/n1/#"]


def test_what_is_not_a_sparkplug_message_is_reported_or_ignored() -> None:
    dec = decoder()
    bad = dec.decode("spBv1.0/g/DDATA/n1/d1", b"\xff\xff\xff", NOW)
    assert bad.values == [] and bad.event == "DDATA on spBv1.0/g/DDATA/n1/d1 is not a Sparkplug B payload"
    assert dec.decode("spBv1.0/g/NCMD/n1", payload(None, ("Node Control/Rebirth", None, 11, True)), NOW).node is None
    assert dec.decode("other/topic", b"x", NOW).node is None
    far = dec.decode("spBv1.0/g/NBIRTH/n1", payload(0, ("x", 1, DataType.INT64, 1), timestamp=2**63), NOW)
    assert far.values == [] and far.event == "NBIRTH on spBv1.0/g/NBIRTH/n1 has a timestamp past year 9999"


@pytest.mark.parametrize(
    ("wire", "error"),
    [
        ({"pointIdTemplate": "{group}/{name}"}, "pointIdTemplate: unknown field {name}"),
        ({"nodePointIdTemplate": "{node}"}, "nodePointIdTemplate: must contain {metric}"),
        ({"pointIdTemplate": "{metric"}, "pointIdTemplate: "),
        ({"maxNumberOfValues": 0}, "maxNumberOfValues"),
    ],
)
def test_bad_settings_name_the_field(wire: dict[str, Any], error: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=error.replace("{", r"\{")):
        msgspec.convert({"url": "mqtt://127.0.0.1", **wire}, SparkplugSettings)


def test_bad_item_filters_name_the_field() -> None:
    with pytest.raises(msgspec.ValidationError, match="deviceId"):
        msgspec.convert({"deviceId": "a/b"}, SparkplugItemSettings)
