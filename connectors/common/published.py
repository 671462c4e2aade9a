"""What the Norths that publish one message per value share: the cached values, their payload, id and name.

A batch of time-values sits in the North cache as a JSON array. ``decode_values`` reads it keeping each
``data`` as the JSON text it arrived as (``msgspec.Raw``), so a value's message is built without decoding and
re-encoding its data. ``message_id`` is a digest of the message: the same value sent again after a crash has the
same id, which lets a broker (NATS JetStream's ``Nats-Msg-Id``) or a consumer (AMQP's ``message_id``) drop the
duplicate, while a corrected value of the same point and instant has another.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, TypeVar

import msgspec

from connectors.base import TimeValue
from connectors.errors import SendError

__all__ = [
    "NAME_TEMPLATE",
    "CachedValue",
    "decode_values",
    "encode_values",
    "message_id",
    "render_name",
    "value_message",
]


class CachedValue(msgspec.Struct, frozen=True):
    """A time-value as the cache holds it."""

    pointId: str
    timestamp: str
    data: msgspec.Raw


T = TypeVar("T")

_DECODE = msgspec.json.Decoder(list[CachedValue])
_DECODE_TIME_VALUES = msgspec.json.Decoder(list[TimeValue])
_ENCODE = msgspec.json.Encoder()

NAME_TEMPLATE = msgspec.Meta(
    min_length=1,
    max_length=255,
    pattern=r"^[^{}]*(\{pointId\}[^{}]*)*$",
    description="Text in which {pointId} is replaced by the value's point id (no other placeholder).",
)
"""Constraint of a subject / routing-key template."""

NameTemplate = Annotated[str, NAME_TEMPLATE]


def decode_values(data: bytes) -> list[CachedValue]:
    """The values of a cache entry; a ``SendError`` (not retried forever) when it is not time-values."""
    return _decode(_DECODE, data)


def decode_time_values(data: bytes) -> list[TimeValue]:
    """As ``decode_values``, with each ``data`` decoded (for a North that reads the value itself)."""
    return _decode(_DECODE_TIME_VALUES, data)


def _decode(decoder: msgspec.json.Decoder[T], data: bytes) -> T:
    try:
        return decoder.decode(data)
    except msgspec.DecodeError as err:
        raise SendError(f"time-values are not [{{pointId, timestamp, data}}]: {err}") from None


def encode_values(values: Sequence[Mapping[str, Any] | CachedValue]) -> bytes:
    """Time-values (decoded or as cached) as the JSON array a cache entry holds."""
    return _ENCODE.encode(values)


def value_message(value: CachedValue) -> bytes:
    """The message of one value: its JSON ``{"pointId", "timestamp", "data"}``."""
    return _ENCODE.encode(value)


def message_id(message: bytes) -> str:
    """A stable id of a message (32 hex digits): equal for a value sent twice, different for another value."""
    return hashlib.blake2b(message, digest_size=16).hexdigest()


def render_name(template: str, point_id: str, forbidden: re.Pattern[str] | None = None) -> str:
    """``template`` with ``{pointId}`` replaced, each character matching ``forbidden`` in the id made ``_``."""
    safe = forbidden.sub("_", point_id) if forbidden is not None else point_id
    return template.replace("{pointId}", safe)
