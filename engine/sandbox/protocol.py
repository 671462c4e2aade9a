"""The sandbox process's wire: length-prefixed msgpack frames of typed structs over its stdin/stdout.

msgpack (through msgspec, typed) rather than JSON: content and output travel as raw strings, where JSON
would escape every quote of a JSON payload on one side and unescape it on the other. The sandbox speaks to
nothing but :mod:`engine.sandbox.client`, so it has a wire of its own rather than the workers' codec.
"""

from __future__ import annotations

import struct
from typing import Any, Literal

import msgspec

ErrorKind = Literal["TIMEOUT_ERROR", "MEMORY_LIMIT_EXCEEDED", "RUNTIME_ERROR", "COMPILATION_ERROR", "SANDBOX_ERROR"]

HEADER = struct.Struct(">I")
MAX_FRAME = 256 * 1024 * 1024


class RunRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Run ``code``'s transform function on ``content``."""

    id: int
    code: str
    content: str
    source: dict[str, Any]
    filename: str
    options: dict[str, Any]
    timeout_ms: int
    memory_limit_mb: int


class RunResult(msgspec.Struct, frozen=True, kw_only=True):
    """What the transform function returned, or why it failed; ``logs`` holds its ``console`` lines."""

    id: int
    output: str | None = None
    filename: str | None = None
    number_of_element: int = 0
    error_kind: ErrorKind | None = None
    error: str | None = None
    logs: list[tuple[str, str]] = []


_ENCODER = msgspec.msgpack.Encoder()
encode = _ENCODER.encode
REQUEST = msgspec.msgpack.Decoder(RunRequest)
RESULT = msgspec.msgpack.Decoder(RunResult)


def frame(message: msgspec.Struct) -> bytes:
    """One frame: the 4-byte big-endian length, then the msgpack body."""
    body = encode(message)
    return HEADER.pack(len(body)) + body


def frame_into(message: msgspec.Struct, buffer: bytearray) -> None:
    """:func:`frame` written into ``buffer`` (replacing what it held): the body is encoded in place, not copied."""
    _ENCODER.encode_into(message, buffer, HEADER.size)
    HEADER.pack_into(buffer, 0, len(buffer) - HEADER.size)
