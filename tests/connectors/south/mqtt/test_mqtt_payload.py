"""MQTT South settings and payload mapping: topic filters, JSON paths, timestamps (no broker needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from connectors.base import Item
from connectors.common.mqtt import topic_filter_problem, topic_matches
from connectors.north.mqtt.manifest import MqttNorthSettings
from connectors.south.mqtt.manifest import MqttItemSettings, MqttSettings
from connectors.south.mqtt.payload import PayloadError, TopicRouter, to_values
from connectors.south.mqtt.timestamps import parse_timestamp, strptime_format

RECEIVED = "2026-03-01T10:00:00.000Z"
ROOT = Path(__file__).resolve().parents[4]


def item(settings: dict[str, Any], name: str = "sensor", item_id: str = "i1", enabled: bool = True) -> Item[Any]:
    return Item(
        id=item_id, name=name, enabled=enabled, settings=msgspec.convert(settings, MqttItemSettings, strict=False)
    )


def convert_error(settings: dict[str, Any], struct: type[msgspec.Struct]) -> str:
    with pytest.raises(msgspec.ValidationError) as caught:
        msgspec.convert(settings, struct, strict=False)
    return str(caught.value)


@pytest.mark.parametrize(
    ("topic_filter", "topic", "expected"),
    [
        ("a/b", "a/b", True),
        ("a/b", "a/c", False),
        ("a/+", "a/b", True),
        ("a/+", "a/b/c", False),
        ("a/+/c", "a/x/c", True),
        ("a/#", "a", True),
        ("a/#", "a/b/c", True),
        ("#", "anything/at/all", True),
        ("+/b", "$SYS/b", False),
        ("#", "$SYS/broker", False),
        ("+", "", True),
        ("a/+", "a/", True),
    ],
)
def test_topic_matching_follows_the_mqtt_rules(topic_filter: str, topic: str, expected: bool) -> None:
    assert topic_matches(topic_filter, topic) is expected


@pytest.mark.parametrize(("topic_filter", "problem"), [("a/#/b", "'#'"), ("a+/b", "'+'"), ("", "empty"), ("a#", "'#'")])
def test_bad_topic_filters_are_refused_naming_the_field(topic_filter: str, problem: str) -> None:
    assert problem in (topic_filter_problem(topic_filter) or "")
    message = convert_error({"topic": topic_filter}, MqttItemSettings)
    assert "topic:" in message and problem in message


def test_router_prefers_the_exact_topic_then_the_first_wildcard_and_skips_disabled_items() -> None:
    wildcard = item({"topic": "plant/+/temp"}, "any temp", "w")
    exact = item({"topic": "plant/line1/temp"}, "line1", "e")
    disabled = item({"topic": "plant/#"}, "off", "d", enabled=False)
    router = TopicRouter([wildcard, exact, disabled])
    assert router.item_for("plant/line1/temp") is exact
    assert router.item_for("plant/line2/temp") is wildcard
    assert router.item_for("plant/line2/pressure") is None
    assert router.topics == ["plant/line1/temp", "plant/+/temp"]


def test_number_and_string_payloads() -> None:
    assert to_values(item({"topic": "t", "valueType": "number"}), b" 42 ", RECEIVED) == [
        {"pointId": "sensor", "timestamp": RECEIVED, "data": {"value": 42}}
    ]
    assert to_values(item({"topic": "t", "valueType": "number"}), b"-1.5e3", RECEIVED)[0]["data"]["value"] == -1500.0
    assert to_values(item({"topic": "t", "valueType": "string"}), "déjà".encode(), RECEIVED)[0]["data"] == {
        "value": "déjà"
    }
    with pytest.raises(PayloadError, match="not a number"):
        to_values(item({"topic": "t", "valueType": "number"}), b"warm", RECEIVED)
    with pytest.raises(PayloadError, match="finite"):
        to_values(item({"topic": "t", "valueType": "number"}), b"nan", RECEIVED)
    with pytest.raises(PayloadError, match="UTF-8"):
        to_values(item({"topic": "t", "valueType": "string"}), b"\xff\xfe", RECEIVED)


def test_json_mapping_with_array_point_id_timestamp_and_other_fields() -> None:
    mapped = item(
        {
            "topic": "t",
            "valueType": "json",
            "jsonPayload": {
                "useArray": True,
                "dataArrayPath": "body.rows",
                "valuePath": "v",
                "pointIdOrigin": "payload",
                "pointIdPath": "meta.ref",
                "timestampOrigin": "payload",
                "timestampPayload": {
                    "timestampPath": "when",
                    "timestampType": "string",
                    "timezone": "Europe/Paris",
                    "timestampFormat": "dd/MM/yyyy HH:mm:ss.SSS",
                },
                "otherFields": [{"name": "quality", "path": "q"}, {"name": "unit", "path": "missing"}],
            },
        }
    )
    payload = (
        b'{"body": {"rows": ['
        b'{"v": 1.5, "meta": {"ref": "P1"}, "when": "01/07/2026 12:00:00.250", "q": "good"},'
        b'{"v": "on", "meta": {}, "q": 192}'
        b"]}}"
    )
    assert to_values(mapped, payload, RECEIVED) == [
        {
            "pointId": "P1",
            "timestamp": "2026-07-01T10:00:00.250Z",  # Paris is UTC+2 in July
            "data": {"value": 1.5, "quality": "good", "unit": None},
        },
        # No point id and no timestamp in the element: the item name and the reception time, as upstream.
        {"pointId": "sensor", "timestamp": RECEIVED, "data": {"value": "on", "quality": 192, "unit": None}},
    ]


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (b"{not json", "not JSON"),
        (b'{"other": 1}', "no value at path 'value'"),
        (b'{"value": {"nested": 1}}', "not a number or a string"),
        (b'{"value": 1, "ts": "yesterday"}', "timestamp 'yesterday'"),
    ],
)
def test_unusable_json_payloads_say_why(payload: bytes, problem: str) -> None:
    mapped = item(
        {
            "topic": "t",
            "valueType": "json",
            "jsonPayload": {
                "timestampOrigin": "payload",
                "timestampPayload": {"timestampPath": "ts", "timestampType": "iso-string"},
            },
        }
    )
    with pytest.raises(PayloadError, match=problem):
        to_values(mapped, payload, RECEIVED)


def test_array_path_must_lead_to_an_array() -> None:
    mapped = item({"topic": "t", "valueType": "json", "jsonPayload": {"useArray": True, "dataArrayPath": "rows"}})
    with pytest.raises(PayloadError, match="no array at path 'rows'"):
        to_values(mapped, b'{"rows": {"value": 1}}', RECEIVED)
    assert [v["data"]["value"] for v in to_values(mapped, b'{"rows": [{"value": 1}, {"value": 2}]}', RECEIVED)] == [
        1,
        2,
    ]


@pytest.mark.parametrize(
    ("raw", "kind", "expected"),
    [
        (1_767_225_600_123, "unix-epoch-ms", "2026-01-01T00:00:00.123Z"),
        ("1767225600", "unix-epoch", "2026-01-01T00:00:00.000Z"),
        ("2026-01-01T01:00:00+01:00", "iso-string", "2026-01-01T00:00:00.000Z"),
        ("2026-01-01T00:00:00Z", "iso-string", "2026-01-01T00:00:00.000Z"),
        ("2026-01-01 00:00:00", "iso-string", "2026-01-01T00:00:00.000Z"),
    ],
)
def test_timestamp_types(raw: object, kind: str, expected: str) -> None:
    assert parse_timestamp(raw, kind, "UTC", "yyyy-MM-dd HH:mm:ss") == expected


def test_luxon_formats_translate_and_unknown_tokens_are_refused_at_validation() -> None:
    assert strptime_format("yyyy-MM-dd'T'HH:mm:ss.SSS") == "%Y-%m-%dT%H:%M:%S.%f"
    assert strptime_format("d/M/yy h:mm a") == "%d/%m/%y %I:%M %p"
    message = convert_error(
        {
            "topic": "t",
            "valueType": "json",
            "jsonPayload": {
                "timestampOrigin": "payload",
                "timestampPayload": {"timestampType": "string", "timestampFormat": "yyyy-WW"},
            },
        },
        MqttItemSettings,
    )
    assert "timestampFormat" in message and "'WW'" in message
    message = convert_error(
        {
            "topic": "t",
            "valueType": "json",
            "jsonPayload": {"timestampPayload": {"timestampType": "string", "timezone": "Mars/Base"}},
        },
        MqttItemSettings,
    )
    assert "timezone" in message and "Mars/Base" in message


def test_json_value_type_needs_its_mapping() -> None:
    assert "jsonPayload" in convert_error({"topic": "t", "valueType": "json"}, MqttItemSettings)


def test_upstream_3_9_item_settings_mean_any_content() -> None:
    assert msgspec.convert({"topic": "a/b"}, MqttItemSettings).value_type == "any-content"


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"url": "ws://broker:8080"}, "websockets"),
        ({"url": "http://broker"}, "mqtt://"),
        ({"url": "mqtt://"}, "host is missing"),
        ({"url": "mqtt://broker:99999"}, "url:"),
        ({"url": "mqtt://broker", "authentication": {"type": "cert", "certFilePath": "c.pem"}}, "TLS url"),
        ({"url": "mqtt://broker", "authentication": {"type": "basic"}}, "authentication.username"),
        ({"url": "mqtts://broker", "authentication": {"type": "cert"}}, "authentication.certFilePath"),
        ({"url": "mqtt://broker", "qos": "3"}, "qos"),
    ],
)
def test_bad_connection_settings_name_the_field(settings: dict[str, Any], problem: str) -> None:
    assert problem in convert_error(settings, MqttSettings)
    assert problem in convert_error(settings, MqttNorthSettings)


def test_upstream_settings_are_accepted_as_they_are() -> None:
    upstream = {
        "url": "mqtt://localhost:1883",
        "qos": "1",
        "persistent": True,
        "authentication": {"type": "basic", "username": "user", "password": "pass"},
        "rejectUnauthorized": False,
        "reconnectPeriod": 1000,
        "connectTimeout": 1000,
        "maxNumberOfMessages": 1000,
        "flushMessageTimeout": 1000,
    }
    settings = msgspec.convert(upstream, MqttSettings)
    assert settings.qos_level == 1 and settings.authentication.password == "pass"


@pytest.mark.parametrize("kind", ["south", "north"])
def test_readme_documents_the_nested_settings_too(kind: str) -> None:
    readme = (ROOT / "connectors" / kind / "mqtt" / "README.md").read_text()
    for name in (
        "authentication.type",
        "authentication.username",
        "authentication.password",
        "authentication.certFilePath",
        "authentication.keyFilePath",
        "authentication.caFilePath",
    ):
        assert f"`{name}`" in readme
    if kind == "south":
        for name in (
            "jsonPayload.valuePath",
            "jsonPayload.timestampPayload.timestampFormat",
            "jsonPayload.otherFields",
        ):
            assert f"`{name}`" in readme
