"""From a received message to its item, and from its payload to time-values (upstream's item settings)."""

from __future__ import annotations

import math
from typing import Any

import msgspec

from connectors.base import Item, TimeValue
from connectors.common.mqtt import topic_matches
from connectors.south.mqtt.manifest import MqttItemSettings, MqttJsonPayload
from connectors.south.mqtt.timestamps import parse_timestamp

__all__ = ["PayloadError", "TopicRouter", "number", "text", "to_values"]

_ROUTE_CACHE_MAX = 100_000
_MISSING = object()
_decode = msgspec.json.decode


class PayloadError(ValueError):
    """A payload that cannot become values with its item's settings (the message is dropped)."""


class TopicRouter:
    """Finds the item of a received topic: an exact topic first, else the first item whose filter matches."""

    def __init__(self, items: list[Item[MqttItemSettings]]) -> None:
        self._exact: dict[str, Item[MqttItemSettings]] = {}
        self._wildcards: list[Item[MqttItemSettings]] = []
        for item in items:
            if not item.enabled:
                continue
            topic = item.settings.topic
            if "+" in topic or "#" in topic:
                self._wildcards.append(item)
            else:
                self._exact.setdefault(topic, item)
        self._cache: dict[str, Item[MqttItemSettings] | None] = {}

    @property
    def topics(self) -> list[str]:
        """Every distinct topic filter to subscribe to."""
        return list(dict.fromkeys([*self._exact, *(item.settings.topic for item in self._wildcards)]))

    def item_for(self, topic: str) -> Item[MqttItemSettings] | None:
        """The item receiving messages of ``topic``, or ``None``."""
        found = self._cache.get(topic, _MISSING)
        if found is not _MISSING:
            return found  # type: ignore[return-value]
        item = self._exact.get(topic)
        if item is None:
            item = next((i for i in self._wildcards if topic_matches(i.settings.topic, topic)), None)
        if len(self._cache) >= _ROUTE_CACHE_MAX:
            self._cache.clear()  # A flood of distinct topics must not grow memory without bound.
        self._cache[topic] = item
        return item


def to_values(item: Item[MqttItemSettings], payload: bytes, received: str) -> list[TimeValue]:
    """The time-values of one message (``received``: its reception instant); ``PayloadError`` says why not."""
    kind = item.settings.value_type
    if kind == "number":
        return [{"pointId": item.name, "timestamp": received, "data": {"value": number(payload)}}]
    if kind == "string":
        return [{"pointId": item.name, "timestamp": received, "data": {"value": text(payload)}}]
    mapping = item.settings.json_payload
    assert mapping is not None  # Checked by the item settings validation.
    try:
        document = _decode(payload)
    except msgspec.DecodeError as err:
        raise PayloadError(f"payload is not JSON: {err}") from None
    if mapping.use_array:
        elements = _get(document, mapping.data_array_path)
        if not isinstance(elements, list):
            raise PayloadError(f"no array at path {mapping.data_array_path!r}")
    else:
        elements = [document]
    return [_value(item.name, element, mapping, received) for element in elements]


def _value(name: str, element: Any, mapping: MqttJsonPayload, received: str) -> TimeValue:
    value = _get(element, mapping.value_path)
    if value is _MISSING or value is None:
        raise PayloadError(f"no value at path {mapping.value_path!r}")
    if isinstance(value, dict | list):
        raise PayloadError(f"value at path {mapping.value_path!r} is not a number or a string")
    point_id = name
    if mapping.point_id_origin == "payload":
        found = _get(element, mapping.point_id_path)
        # As upstream: without a point id in the payload, the item name is used.
        if found is not _MISSING and found is not None and found != "":
            point_id = str(found)
    timestamp = received
    if mapping.timestamp_origin == "payload":
        options = mapping.timestamp_payload
        raw = _get(element, options.timestamp_path)
        # As upstream: without a timestamp in the payload, the reception time is used.
        if raw is not _MISSING and raw is not None and raw != "":
            try:
                timestamp = parse_timestamp(raw, options.timestamp_type, options.timezone, options.timestamp_format)
            except (ValueError, OverflowError) as err:
                raise PayloadError(f"timestamp {raw!r} at path {options.timestamp_path!r}: {err}") from None
    data: dict[str, Any] = {"value": value}
    for field in mapping.other_fields:
        extra = _get(element, field.path)
        data[field.name] = None if extra is _MISSING else extra
    return {"pointId": point_id, "timestamp": timestamp, "data": data}


def _get(document: Any, path: str) -> Any:
    """The value at a dot path (``a.b.0.c``; empty: the document), or ``_MISSING``."""
    if not path:
        return document
    current = document
    for key in path.split("."):
        if isinstance(current, dict):
            current = current.get(key, _MISSING)
        elif isinstance(current, list) and key.isdigit() and int(key) < len(current):
            current = current[int(key)]
        else:
            return _MISSING
        if current is _MISSING:
            return _MISSING
    return current


def text(payload: bytes) -> str:
    """The payload as UTF-8 text (``PayloadError`` otherwise)."""
    try:
        return payload.decode()
    except UnicodeDecodeError:
        raise PayloadError("payload is not UTF-8 text") from None


def number(payload: bytes) -> int | float:
    """The payload as a finite number (``PayloadError`` otherwise)."""
    # int() and float() read ASCII bytes (surrounding whitespace allowed): no decode on the hot path.
    try:
        return int(payload)
    except ValueError:
        pass
    try:
        number = float(payload)
    except ValueError:
        raise PayloadError(f"payload {payload[:40].decode(errors='replace')!r} is not a number") from None
    if not math.isfinite(number):
        raise PayloadError(f"payload {payload[:40].decode(errors='replace')!r} is not a finite number")
    return number
