"""The standard transformers: turn one content type into another on its way to a North (reference §4.4).

A transformer is a pure function of the payload bytes and the rule's validated options; it returns the new
payload and its element count, or ``None`` when nothing is left to send (no element matched the mapping).
``iso`` and ``ignore`` are markers the router handles itself (keep as is, drop).

The protocol transformers map by point (time-values) or by reference (setpoints):

- ``time-values-to-mqtt``: ``{topic, payload}``, the payload being the JSON of the value's ``data`` plus its
  ``timestamp``; ``setpoint-to-mqtt``: the value as text (JSON when it is not a string).
- ``time-values-to-modbus`` / ``setpoint-to-modbus``: ``{address, value, modbusType}``.
- ``time-values-to-opcua`` / ``setpoint-to-opcua``: ``{nodeId, value}``, plus ``dataType`` when mapped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, cast

import msgspec

from engine.ipc.messages import Content
from engine.routing import tabular

IGNORE = "ignore"
ISO = "iso"

NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
Topic = Annotated[str, msgspec.Meta(min_length=1, pattern=r"^[^#+]+$", description="MQTT topic (no wildcard)")]
Qos = Literal["0", "1", "2"]
ModbusType = Literal["coil", "register"]


class _Options(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Base of the options structs (camelCase on the wire, as upstream)."""


# What each protocol needs to address a value; a mapping entry adds the point (or reference) it applies to.
_MQTT: list[Any] = [("topic", Topic), ("qos", Qos | None, None)]
_MODBUS: list[Any] = [("address", NonEmpty), ("modbus_type", ModbusType)]
_OPCUA: list[Any] = [("node_id", NonEmpty), ("data_type", str | None, None)]


def _options(name: str, key: str, target: list[Any]) -> type[_Options]:
    """``<name>Options`` with ``mapping: list[{<key>, **target}]`` (upstream's option shape)."""
    entry: Any = msgspec.defstruct(
        f"{name}Entry", [(key, NonEmpty), *target], bases=(_Options,), frozen=True, kw_only=True
    )
    options: Any = msgspec.defstruct(
        f"{name}Options", [("mapping", list[entry], [])], bases=(_Options,), frozen=True, kw_only=True
    )
    return cast(type[_Options], options)


TimeValuesToMqttOptions = _options("TimeValuesToMqtt", "point_id", _MQTT)
TimeValuesToModbusOptions = _options("TimeValuesToModbus", "point_id", _MODBUS)
TimeValuesToOpcuaOptions = _options("TimeValuesToOpcua", "point_id", _OPCUA)
SetpointToMqttOptions = _options("SetpointToMqtt", "reference", _MQTT)
SetpointToModbusOptions = _options("SetpointToModbus", "reference", _MODBUS)
SetpointToOpcuaOptions = _options("SetpointToOpcua", "reference", _OPCUA)


class NoOptions(_Options, frozen=True, kw_only=True):
    """``iso`` and ``ignore`` take no options."""


Apply = Callable[[bytes, Any], "tuple[bytes, int] | tuple[bytes, int, str] | None"]
"""Payload and count, plus the logical file name for an ``any`` (file) output; ``None``: nothing to send."""

ANY_INPUTS = frozenset({"any", "any-content"})
"""The content types an ``any`` transformer reads (a file, or an opaque text payload)."""


@dataclass(frozen=True, slots=True)
class StandardTransformer:
    """A built-in transformer: what it reads, what it produces, its options, and the function."""

    id: str
    input_type: str
    output_type: str
    options: type[msgspec.Struct]
    apply: Apply | None
    """``None`` for the ``iso``/``ignore`` markers."""


_ELEMENTS = msgspec.json.Decoder(list[dict[str, Any]])
_encode = msgspec.json.Encoder().encode


def _encoded(elements: list[dict[str, Any]]) -> tuple[bytes, int] | None:
    return (_encode(elements), len(elements)) if elements else None


def _matches(payload: bytes, key: str, mapping: Iterable[Any]) -> Iterator[tuple[dict[str, Any], Any]]:
    """Each element of the JSON array ``payload`` whose ``key`` is mapped, with its mapping entry."""
    index = {getattr(entry, "point_id" if key == "pointId" else "reference"): entry for entry in mapping}
    for element in _ELEMENTS.decode(payload):
        entry = index.get(str(element.get(key)))
        if entry is not None:
            yield element, entry


def _value(element: dict[str, Any]) -> Any:
    data = element.get("data")
    return data.get("value") if isinstance(data, dict) else None


def _mqtt(target: Any, payload: str) -> dict[str, Any]:
    out: dict[str, Any] = {"topic": target.topic, "payload": payload}
    if target.qos is not None:
        out["qos"] = target.qos
    return out


def _modbus(target: Any, value: Any) -> dict[str, Any]:
    return {"address": target.address, "value": value, "modbusType": target.modbus_type}


def _opcua(target: Any, value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"nodeId": target.node_id, "value": value}
    if target.data_type is not None:
        out["dataType"] = target.data_type
    return out


def _text(value: Any) -> str:
    return value if isinstance(value, str) else _encode(value).decode()


def time_values_to_mqtt(payload: bytes, options: Any) -> tuple[bytes, int] | None:
    """One message per mapped value: the value's ``data`` and ``timestamp`` as JSON."""
    return _encoded(
        [
            _mqtt(entry, _encode({**(element.get("data") or {}), "timestamp": element.get("timestamp")}).decode())
            for element, entry in _matches(payload, "pointId", options.mapping)
        ]
    )


def time_values_to_modbus(payload: bytes, options: Any) -> tuple[bytes, int] | None:
    """One write per mapped value."""
    return _encoded(
        [_modbus(entry, _value(element)) for element, entry in _matches(payload, "pointId", options.mapping)]
    )


def time_values_to_opcua(payload: bytes, options: Any) -> tuple[bytes, int] | None:
    """One write per mapped value."""
    return _encoded(
        [_opcua(entry, _value(element)) for element, entry in _matches(payload, "pointId", options.mapping)]
    )


def setpoint_to_mqtt(payload: bytes, options: Any) -> tuple[bytes, int] | None:
    """One message per mapped setpoint, its value as text."""
    return _encoded(
        [
            _mqtt(entry, _text(element.get("value")))
            for element, entry in _matches(payload, "reference", options.mapping)
        ]
    )


def setpoint_to_modbus(payload: bytes, options: Any) -> tuple[bytes, int] | None:
    """One write per mapped setpoint."""
    return _encoded(
        [_modbus(entry, element.get("value")) for element, entry in _matches(payload, "reference", options.mapping)]
    )


def setpoint_to_opcua(payload: bytes, options: Any) -> tuple[bytes, int] | None:
    """One write per mapped setpoint."""
    return _encoded(
        [_opcua(entry, element.get("value")) for element, entry in _matches(payload, "reference", options.mapping)]
    )


STANDARD: dict[str, StandardTransformer] = {
    transformer.id: transformer
    for transformer in (
        StandardTransformer(ISO, "any", "any", NoOptions, None),
        StandardTransformer(IGNORE, "any", "any", NoOptions, None),
        StandardTransformer("time-values-to-mqtt", "time-values", "mqtt", TimeValuesToMqttOptions, time_values_to_mqtt),
        StandardTransformer(
            "time-values-to-modbus", "time-values", "modbus", TimeValuesToModbusOptions, time_values_to_modbus
        ),
        StandardTransformer(
            "time-values-to-opcua", "time-values", "opcua", TimeValuesToOpcuaOptions, time_values_to_opcua
        ),
        StandardTransformer("setpoint-to-mqtt", "setpoint", "mqtt", SetpointToMqttOptions, setpoint_to_mqtt),
        StandardTransformer("setpoint-to-modbus", "setpoint", "modbus", SetpointToModbusOptions, setpoint_to_modbus),
        StandardTransformer("setpoint-to-opcua", "setpoint", "opcua", SetpointToOpcuaOptions, setpoint_to_opcua),
        StandardTransformer(
            "time-values-to-csv", "time-values", "any", tabular.TimeValuesToCsvOptions, tabular.time_values_to_csv
        ),
        StandardTransformer(
            "time-values-to-json", "time-values", "any", tabular.TimeValuesToJsonOptions, tabular.time_values_to_json
        ),
        StandardTransformer(
            "time-values-to-oianalytics",
            "time-values",
            "oianalytics",
            tabular.TimeValuesToOIAnalyticsOptions,
            tabular.time_values_to_oianalytics,
        ),
        StandardTransformer("json-to-csv", "any", "any", tabular.JsonToCsvOptions, tabular.json_to_csv),
        StandardTransformer(
            "json-to-oianalytics", "any", "oianalytics", tabular.JsonToOIAnalyticsOptions, tabular.json_to_oianalytics
        ),
        StandardTransformer(
            "csv-to-time-values", "any", "time-values", tabular.CsvToTimeValuesOptions, tabular.csv_to_time_values
        ),
        StandardTransformer("csv-to-mqtt", "any", "mqtt", tabular.CsvToMqttOptions, tabular.csv_to_mqtt),
    )
}
"""Every standard transformer by id (upstream's ``functionName``)."""


class TransformError(ValueError):
    """A content a transformer cannot read (not the JSON array its input type promises)."""


@dataclass(frozen=True, slots=True)
class Transformed:
    """What a transformer produced: the content type, payload and count, and a file name for a file output."""

    content_type: str
    payload: bytes
    count: int
    filename: str | None = None


def content_bytes(content: Content) -> bytes:
    """What a transformer reads of a content: its payload, or the bytes of its file (``any`` from a South)."""
    if content.payload is not None:
        return content.payload
    path = content.file_path or (content.files[0][0] if content.files else None)
    if path is None:
        return b""
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise TransformError(f"cannot read the file to transform: {err}") from err


def reads(transformer: StandardTransformer, content_type: str) -> bool:
    """Whether ``transformer`` reads content of ``content_type``."""
    if transformer.input_type == "any":
        return content_type in ANY_INPUTS
    return content_type == transformer.input_type


def transform_content(transformer_id: str, options: Any, content_type: str, payload: bytes) -> Transformed | None:
    """Apply a standard transformer; ``options`` is the rule's raw options (validated when it was saved).

    Returns ``None`` when nothing is left to send. Raises ``TransformError`` when the content is not what
    the transformer reads.
    """
    transformer = STANDARD[transformer_id]
    if transformer.apply is None:
        raise TransformError(f"'{transformer_id}' is a routing marker, not a transformation")
    if not reads(transformer, content_type):
        raise TransformError(f"'{transformer_id}' reads {transformer.input_type}, not {content_type}")
    try:
        validated = msgspec.convert(options or {}, transformer.options)
        result = transformer.apply(payload, validated)
    except (msgspec.DecodeError, msgspec.ValidationError, AttributeError, TypeError, ValueError) as err:
        raise TransformError(f"'{transformer_id}' cannot read this content: {err}") from err
    if result is None:
        return None
    filename = result[2] if len(result) == 3 else None
    return Transformed(transformer.output_type, result[0], result[1], filename)


def transform(transformer_id: str, options: Any, content_type: str, payload: bytes) -> tuple[str, bytes, int] | None:
    """:func:`transform_content` as ``(output type, payload, count)``."""
    result = transform_content(transformer_id, options, content_type, payload)
    return None if result is None else (result.content_type, result.payload, result.count)
