"""Sparkplug B payloads (Eclipse Sparkplug 3.0) with the ``protobuf`` runtime, and the topic namespace.

The message classes are built at import from a descriptor declared here: the part of the specification's
``sparkplug_b.proto`` that carries metrics (``Payload``: timestamp 1, metrics 2, seq 3, uuid 4, body 5;
``Metric``: name 1, alias 2, timestamp 3, datatype 4, is_historical 5, is_transient 6, is_null 7, and the
scalar values int 10, long 11, float 12, double 13, boolean 14, string 15, bytes 16), with the specification's
field numbers and types, so that the bytes are the specification's. Data sets, templates, property sets and
metadata are not declared: their fields are skipped when decoding, as protobuf skips unknown fields.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message

__all__ = [
    "NAMESPACE",
    "DataType",
    "DecodeError",
    "MetricValue",
    "Topic",
    "decode_payload",
    "metric_value",
    "new_payload",
    "parse_topic",
    "set_metric_value",
]

NAMESPACE = "spBv1.0"


class DataType:
    """The specification's metric data type codes (those this module reads and writes)."""

    INT8, INT16, INT32, INT64 = 1, 2, 3, 4
    UINT8, UINT16, UINT32, UINT64 = 5, 6, 7, 8
    FLOAT, DOUBLE, BOOLEAN, STRING, DATETIME, TEXT, UUID = 9, 10, 11, 12, 13, 14, 15
    BYTES = 17


_F = descriptor_pb2.FieldDescriptorProto
_METRIC_FIELDS = (
    # (name, number, type, part of the ``value`` oneof)
    ("name", 1, _F.TYPE_STRING, False),
    ("alias", 2, _F.TYPE_UINT64, False),
    ("timestamp", 3, _F.TYPE_UINT64, False),
    ("datatype", 4, _F.TYPE_UINT32, False),
    ("is_historical", 5, _F.TYPE_BOOL, False),
    ("is_transient", 6, _F.TYPE_BOOL, False),
    ("is_null", 7, _F.TYPE_BOOL, False),
    ("int_value", 10, _F.TYPE_UINT32, True),
    ("long_value", 11, _F.TYPE_UINT64, True),
    ("float_value", 12, _F.TYPE_FLOAT, True),
    ("double_value", 13, _F.TYPE_DOUBLE, True),
    ("boolean_value", 14, _F.TYPE_BOOL, True),
    ("string_value", 15, _F.TYPE_STRING, True),
    ("bytes_value", 16, _F.TYPE_BYTES, True),
)


def _classes() -> tuple[type[Message], type[Message]]:
    file = descriptor_pb2.FileDescriptorProto(name="oibus_sparkplug_b.proto", package="org.eclipse.tahu.protobuf")
    file.syntax = "proto2"
    payload = file.message_type.add(name="Payload")
    metric = payload.nested_type.add(name="Metric")
    metric.oneof_decl.add(name="value")
    for name, number, kind, in_oneof in _METRIC_FIELDS:
        field = metric.field.add(name=name, number=number, type=kind, label=_F.LABEL_OPTIONAL)
        if in_oneof:
            field.oneof_index = 0
    payload.field.add(name="timestamp", number=1, type=_F.TYPE_UINT64, label=_F.LABEL_OPTIONAL)
    payload.field.add(
        name="metrics",
        number=2,
        type=_F.TYPE_MESSAGE,
        label=_F.LABEL_REPEATED,
        type_name=".org.eclipse.tahu.protobuf.Payload.Metric",
    )
    payload.field.add(name="seq", number=3, type=_F.TYPE_UINT64, label=_F.LABEL_OPTIONAL)
    payload.field.add(name="uuid", number=4, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
    payload.field.add(name="body", number=5, type=_F.TYPE_BYTES, label=_F.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    found = pool.FindMessageTypeByName("org.eclipse.tahu.protobuf.Payload")
    return message_factory.GetMessageClass(found), message_factory.GetMessageClass(found.nested_types_by_name["Metric"])


Payload, Metric = _classes()

MetricValue = bool | int | float | str | bytes | None


def new_payload(timestamp_ms: int, seq: int | None) -> Any:
    """An empty payload (``seq`` omitted for ``None``: NDEATH carries none)."""
    payload: Any = Payload()
    payload.timestamp = timestamp_ms
    if seq is not None:
        payload.seq = seq
    return payload


def decode_payload(data: bytes) -> Any:
    """A payload from its bytes (``DecodeError`` when they are not one)."""
    payload: Any = Payload()
    payload.ParseFromString(data)
    return payload


def datatype_of(value: Any) -> int:
    """The data type a North declares for a time-value's value."""
    if isinstance(value, bool):
        return DataType.BOOLEAN
    if isinstance(value, int):
        return DataType.INT64
    if isinstance(value, float):
        return DataType.DOUBLE
    return DataType.STRING


def set_metric_value(metric: Any, datatype: int, value: Any) -> None:
    """Write ``value`` into ``metric`` as ``datatype`` (``None``: ``is_null``); others become JSON text."""
    if value is None:
        metric.is_null = True
    elif datatype == DataType.BOOLEAN:
        metric.boolean_value = bool(value)
    elif datatype == DataType.INT64:
        metric.long_value = int(value) & 0xFFFF_FFFF_FFFF_FFFF  # two's complement, as the specification says
    elif datatype == DataType.DOUBLE:
        metric.double_value = float(value)
    else:
        metric.string_value = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


_SIGNED_BITS = {DataType.INT8: 8, DataType.INT16: 16, DataType.INT32: 32, DataType.INT64: 64}


def metric_value(metric: Any, datatype: int) -> MetricValue:
    """The value a metric carries, as Python (signed types back from two's complement)."""
    if metric.is_null:
        return None
    kind = metric.WhichOneof("value")
    if kind is None:
        return None
    raw: MetricValue = getattr(metric, kind)
    bits = _SIGNED_BITS.get(datatype)
    if bits is not None and isinstance(raw, int) and raw >= 1 << (bits - 1):
        return raw - (1 << bits)
    return raw


@dataclass(frozen=True, slots=True)
class Topic:
    """``spBv1.0/<group>/<message type>/<edge node>[/<device>]``."""

    group: str
    message_type: str
    edge_node: str
    device: str | None = None

    def __str__(self) -> str:
        parts: Iterable[str] = (NAMESPACE, self.group, self.message_type, self.edge_node)
        return "/".join([*parts, self.device] if self.device else parts)


def parse_topic(topic: str) -> Topic | None:
    """The parts of a Sparkplug B topic, or ``None`` for another topic."""
    parts = topic.split("/")
    if len(parts) not in (4, 5) or parts[0] != NAMESPACE:
        return None
    return Topic(parts[1], parts[2], parts[3], parts[4] if len(parts) == 5 else None)
