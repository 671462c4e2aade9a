"""Frame codec: a 4-byte big-endian length, then one msgpack map. The only module that imports msgpack."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import msgpack
import msgspec

from engine.ipc.messages import FIELD_NAMES, MESSAGE_TYPES, Message

_HEADER = struct.Struct(">I")
MAX_FRAME = 256 * 1024 * 1024


class ProtocolError(Exception):
    """A frame that is not a valid message: the peer is broken or not one of ours."""


def encode(message: Message) -> bytes:
    """Return the framed bytes of ``message``."""
    body: dict[str, Any] = {"kind": message.kind}
    for name in FIELD_NAMES[type(message)]:
        body[name] = getattr(message, name)
    data: bytes = msgpack.packb(body, use_bin_type=True, default=_builtins)
    return _HEADER.pack(len(data)) + data


def _builtins(value: Any) -> Any:
    """What msgpack cannot pack by itself: a spec struct (``ConnectorSpec``) goes as its map."""
    if isinstance(value, msgspec.Struct):
        return msgspec.to_builtins(value)
    raise TypeError(f"cannot encode {type(value).__name__} in an IPC frame")


def decode_body(data: bytes) -> Message:
    """Decode one frame body (without its length prefix) into a message."""
    try:
        body = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except Exception as err:
        raise ProtocolError(f"undecodable frame: {err}") from err
    if not isinstance(body, dict):
        raise ProtocolError("frame is not a map")
    kind = body.pop("kind", None)
    cls = MESSAGE_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ProtocolError(f"unknown message kind {kind!r}")
    try:
        return cls(**body)
    except TypeError as err:
        raise ProtocolError(f"bad {kind} message: {err}") from err


def decode(frame: bytes) -> Message:
    """Decode one whole frame (length prefix included)."""
    if len(frame) < _HEADER.size:
        raise ProtocolError("short frame")
    (length,) = _HEADER.unpack_from(frame)
    if length != len(frame) - _HEADER.size:
        raise ProtocolError("frame length mismatch")
    return decode_body(frame[_HEADER.size :])


async def read_message(reader: asyncio.StreamReader) -> Message | None:
    """Read one message; ``None`` at a clean end of stream."""
    try:
        header = await reader.readexactly(_HEADER.size)
    except asyncio.IncompleteReadError as err:
        if err.partial:
            raise ProtocolError("stream ended inside a frame header") from err
        return None
    (length,) = _HEADER.unpack(header)
    if length > MAX_FRAME:
        raise ProtocolError(f"frame of {length} bytes exceeds the limit")
    try:
        data = await reader.readexactly(length)
    except asyncio.IncompleteReadError as err:
        raise ProtocolError("stream ended inside a frame") from err
    return decode_body(data)


def pack_value(value: Any) -> bytes:
    """Serialise a plain value with msgpack (for opaque blobs stored beside IPC, e.g. the South cache)."""
    data: bytes = msgpack.packb(value, use_bin_type=True)
    return data


def unpack_value(data: bytes) -> Any:
    """Inverse of :func:`pack_value`."""
    return msgpack.unpackb(data, raw=False, strict_map_key=False)
