"""The standard transformers, and how a North's rules split one content into parts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine.routing.router import Decision, NorthRoute, Verdict, split
from engine.routing.transformers import STANDARD, TransformError, transform

VALUES = [
    {"pointId": "temperature", "timestamp": "2026-01-01T00:00:00.000Z", "data": {"value": 21.5, "quality": "good"}},
    {"pointId": "pressure", "timestamp": "2026-01-01T00:00:01.000Z", "data": {"value": 3}},
    {"pointId": "unmapped", "timestamp": "2026-01-01T00:00:02.000Z", "data": {"value": 9}},
]
SETPOINTS = [
    {"reference": "speed", "value": 1200},
    {"reference": "mode", "value": "auto"},
    {"reference": "x", "value": 1},
]


def run(transformer_id: str, options: dict[str, Any], content_type: str, elements: list[Any]) -> list[Any] | None:
    result = transform(transformer_id, options, content_type, json.dumps(elements).encode())
    if result is None:
        return None
    output_type, payload, count = result
    assert output_type == STANDARD[transformer_id].output_type
    decoded: list[Any] = json.loads(payload)
    assert count == len(decoded)
    return decoded


def test_time_values_to_mqtt_publishes_data_and_timestamp_of_mapped_points() -> None:
    options = {
        "mapping": [
            {"pointId": "temperature", "topic": "plant/t", "qos": "1"},
            {"pointId": "pressure", "topic": "plant/p"},
        ]
    }
    out = run("time-values-to-mqtt", options, "time-values", VALUES)
    assert out is not None
    assert [message["topic"] for message in out] == ["plant/t", "plant/p"]
    assert json.loads(out[0]["payload"]) == {"value": 21.5, "quality": "good", "timestamp": "2026-01-01T00:00:00.000Z"}
    assert out[0]["qos"] == "1"
    assert "qos" not in out[1]


def test_time_values_to_modbus_and_opcua_map_values_by_point() -> None:
    modbus = run(
        "time-values-to-modbus",
        {"mapping": [{"pointId": "pressure", "address": "0x0010", "modbusType": "register"}]},
        "time-values",
        VALUES,
    )
    assert modbus == [{"address": "0x0010", "value": 3, "modbusType": "register"}]
    opcua = run(
        "time-values-to-opcua",
        {
            "mapping": [
                {"pointId": "temperature", "nodeId": "ns=2;s=T", "dataType": "Double"},
                {"pointId": "pressure", "nodeId": "ns=2;s=P"},
            ]
        },
        "time-values",
        VALUES,
    )
    assert opcua == [{"nodeId": "ns=2;s=T", "value": 21.5, "dataType": "Double"}, {"nodeId": "ns=2;s=P", "value": 3}]


def test_setpoints_map_by_reference() -> None:
    mqtt = run(
        "setpoint-to-mqtt",
        {"mapping": [{"reference": "speed", "topic": "s"}, {"reference": "mode", "topic": "m"}]},
        "setpoint",
        SETPOINTS,
    )
    assert mqtt == [{"topic": "s", "payload": "1200"}, {"topic": "m", "payload": "auto"}]
    modbus = run(
        "setpoint-to-modbus",
        {"mapping": [{"reference": "speed", "address": "40001", "modbusType": "register"}]},
        "setpoint",
        SETPOINTS,
    )
    assert modbus == [{"address": "40001", "value": 1200, "modbusType": "register"}]
    opcua = run(
        "setpoint-to-opcua", {"mapping": [{"reference": "mode", "nodeId": "ns=1;s=Mode"}]}, "setpoint", SETPOINTS
    )
    assert opcua == [{"nodeId": "ns=1;s=Mode", "value": "auto"}]


def test_nothing_mapped_means_nothing_to_send() -> None:
    assert run("time-values-to-mqtt", {"mapping": []}, "time-values", VALUES) is None
    assert run("setpoint-to-opcua", {}, "setpoint", SETPOINTS) is None


@pytest.mark.parametrize(
    ("transformer_id", "content_type", "payload"),
    [
        ("time-values-to-mqtt", "any", b"[]"),  # a file is not time-values
        ("setpoint-to-mqtt", "time-values", b"[]"),
        ("time-values-to-mqtt", "time-values", b"{not json"),
        ("time-values-to-mqtt", "time-values", b'{"an": "object"}'),
        ("iso", "time-values", b"[]"),
    ],
)
def test_content_a_transformer_cannot_read_is_refused_with_the_reason(
    transformer_id: str, content_type: str, payload: bytes
) -> None:
    with pytest.raises(TransformError, match=transformer_id):
        transform(transformer_id, {"mapping": [{"pointId": "a", "topic": "t"}]}, content_type, payload)


def rule(rule_id: str, transformer_id: str, items: list[str]) -> dict[str, Any]:
    return {
        "id": rule_id,
        "source": {"type": "south", "southId": "s1", "items": [{"id": item} for item in items]},
        "transformer": {"id": transformer_id},
        "options": {},
    }


def test_items_through_one_rule_stay_one_part() -> None:
    north = NorthRoute.from_dto({"id": "n", "transformers": [rule("r1", "time-values-to-mqtt", ["i1", "i2"])]}, ())
    verdicts = north.decide_south("s1", ["i1", "i2"], {}, "time-values")
    parts = split(verdicts, "time-values", b"[]", {}, lambda: Verdict(Decision.SKIP))
    assert len(parts) == 1
    assert parts[0][0].transformer == "time-values-to-mqtt"
    assert parts[0][1] is None  # the payload is taken as it is


def test_items_through_different_rules_are_split_by_point() -> None:
    north = NorthRoute.from_dto(
        {"id": "n", "transformers": [rule("r1", "time-values-to-mqtt", ["i1"]), rule("r2", "ignore", ["i3"])]},
        ("time-values",),
    )
    verdicts = north.decide_south("s1", ["i1", "i2", "i3"], {}, "time-values")
    names = {"temperature": "i1", "pressure": "i2", "unmapped": "i3"}
    parts = split(verdicts, "time-values", json.dumps(VALUES).encode(), names, lambda: Verdict(Decision.SEND))
    by_transformer = {verdict.transformer: (json.loads(payload or b""), count) for verdict, payload, count in parts}
    assert by_transformer == {
        "time-values-to-mqtt": ([VALUES[0]], 1),
        None: ([VALUES[1]], 1),  # i2 has no rule: time-values go as they are; i3 is ignored
    }


def test_nothing_sent_means_no_part() -> None:
    north = NorthRoute.from_dto({"id": "n", "transformers": [rule("r", "ignore", ["i1"])]}, ())
    verdicts = north.decide_south("s1", ["i1"], {}, "time-values")
    assert split(verdicts, "time-values", b"[]", {}, lambda: Verdict(Decision.SKIP)) == []
