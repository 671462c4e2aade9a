"""Modbus settings fragments and the register codec shared by the Modbus South and North.

The codec keeps upstream OIBus's byte-order semantics, which differ from most Modbus tools:

- ``swapWordsInDWords: false`` (the default) swaps the two words of each 32-bit group, so a 32-bit value is
  read LOW word first; ``true`` keeps the registers in the order they arrive (high word first, the Modbus
  convention). A 64-bit value is handled as two 32-bit groups, each with its words swapped or not.
- ``swapBytesInWords`` swaps the two bytes of every register.
- ``endianness`` then reads the resulting bytes big- or little-endian.

16-bit values (``uint16``, ``int16``, ``bit``) are never word-swapped. Nothing here imports pymodbus, so the
codec is usable (and testable) without a connection.
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass
from typing import Annotated, Literal

import msgspec

__all__ = [
    "BIT_TABLES",
    "MAX_READ_BITS",
    "MAX_READ_REGISTERS",
    "MAX_WRITE_REGISTERS",
    "AddressOffset",
    "AddressOffsetField",
    "ByteOrder",
    "ConnectTimeout",
    "DataType",
    "Endianness",
    "EndiannessField",
    "Host",
    "ModbusConnectionSettings",
    "NetworkTimeout",
    "Port",
    "RetryInterval",
    "SlaveId",
    "SwapBytesInWords",
    "SwapWordsInDWords",
    "decode",
    "encode",
    "format_number",
    "parse_address",
    "protocol_address",
    "word_count",
]

MAX_READ_BITS = 2000
"""Coils or discrete inputs one read request may ask for (Modbus application protocol §6.1, §6.2)."""
MAX_READ_REGISTERS = 125
"""Registers one read request may ask for (§6.3, §6.4)."""
MAX_WRITE_REGISTERS = 123
"""Registers one write-multiple request may carry (§6.12)."""
BIT_TABLES = frozenset({"coil", "discrete-input"})

DataType = Literal["uint16", "int16", "uint32", "int32", "big-uint64", "big-int64", "float", "double", "bit"]
AddressOffset = Literal["modbus", "jbus"]
Endianness = Literal["big-endian", "little-endian"]

# Settings fragments: annotated field types (not a base struct, which would move the fields to the top of the
# form), declared by each connector in its own order. Names and defaults are upstream's.
Host = Annotated[
    str, msgspec.Meta(min_length=1, title="Host", description="Host name or IP address of the Modbus server.")
]
Port = Annotated[int, msgspec.Meta(ge=1, le=65535, title="Port", description="TCP port of the Modbus server.")]
SlaveId = Annotated[
    int,
    msgspec.Meta(ge=0, le=255, title="Slave ID", description="Unit identifier sent in every request (0 to 255)."),
]
ConnectTimeout = Annotated[
    int,
    msgspec.Meta(
        ge=100,
        le=300_000,
        title="Connect timeout",
        description="Time allowed to open the TCP connection.",
        extra={"unit": "ms"},
    ),
]
NetworkTimeout = Annotated[
    int,
    msgspec.Meta(
        ge=100,
        le=300_000,
        title="Network timeout",
        description="Time allowed for the server to answer one request; past it the connection is restarted.",
        extra={"unit": "ms"},
    ),
]
RetryInterval = Annotated[
    int,
    msgspec.Meta(
        ge=0,
        title="Retry interval",
        description="Accepted for compatibility; reconnection follows the engine's backoff (1 s doubling to 60 s).",
        extra={"unit": "ms"},
    ),
]
AddressOffsetField = Annotated[
    AddressOffset,
    msgspec.Meta(
        title="Address offset",
        description="modbus: addresses are sent as written; jbus: addresses start at 1 (1 is sent as 0).",
    ),
]
EndiannessField = Annotated[
    Endianness,
    msgspec.Meta(title="Endianness", description="Byte order used to read the (swapped) bytes of a value."),
]
SwapBytesInWords = Annotated[
    bool, msgspec.Meta(title="Swap bytes in words", description="Swap the two bytes of every register.")
]
SwapWordsInDWords = Annotated[
    bool,
    msgspec.Meta(
        title="Swap words in double words",
        description="false (upstream default): 32-bit values are read low word first; true: high word first.",
    ),
]

_WORDS: dict[str, int] = {
    "uint16": 1,
    "int16": 1,
    "bit": 1,
    "uint32": 2,
    "int32": 2,
    "float": 2,
    "big-uint64": 4,
    "big-int64": 4,
    "double": 4,
}
_FORMAT: dict[str, str] = {
    "uint16": "H",
    "int16": "h",
    "bit": "H",
    "uint32": "I",
    "int32": "i",
    "float": "f",
    "big-uint64": "Q",
    "big-int64": "q",
    "double": "d",
}
_INTEGER_TYPES = frozenset({"uint16", "int16", "uint32", "int32", "big-uint64", "big-int64"})
_ADDRESS = re.compile(r"^\s*(0[xX][0-9a-fA-F]+|[0-9]+)\s*$")


class ModbusConnectionSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """The settings both Modbus connectors start with: where the server is and how values are laid out.

    The North's settings are exactly these; the South's add how reads are grouped.
    """

    host: Host
    port: Port = 502
    connect_timeout: ConnectTimeout = 10_000
    network_timeout: NetworkTimeout = 15_000
    retry_interval: RetryInterval = 10_000
    slave_id: SlaveId = 1
    address_offset: AddressOffsetField = "modbus"
    endianness: EndiannessField = "big-endian"
    swap_bytes_in_words: SwapBytesInWords = False
    # Upstream's name capitalises the D of DWords, which camel-casing the Python name would not.
    swap_words_in_dwords: SwapWordsInDWords = msgspec.field(default=False, name="swapWordsInDWords")


@dataclass(frozen=True, slots=True)
class ByteOrder:
    """The byte-order settings of a connector (see the module docstring)."""

    big_endian: bool = True
    swap_bytes_in_words: bool = False
    swap_words_in_dwords: bool = False

    @classmethod
    def of(cls, settings: ModbusConnectionSettings) -> ByteOrder:
        """The byte order of a connector's settings."""
        return cls(
            big_endian=settings.endianness == "big-endian",
            swap_bytes_in_words=settings.swap_bytes_in_words,
            swap_words_in_dwords=settings.swap_words_in_dwords,
        )


def word_count(data_type: DataType) -> int:
    """Registers a value of ``data_type`` occupies."""
    return _WORDS[data_type]


def parse_address(text: str | int) -> int:
    """A Modbus address as written by an operator: decimal (``40001``) or hexadecimal (``0x9C41``).

    Raises ``ValueError`` naming the problem.
    """
    if isinstance(text, bool):
        raise ValueError(f"expected a decimal or 0x-hexadecimal address, got {text!r}")
    if isinstance(text, int):
        number = text
    else:
        match = _ADDRESS.match(text)
        if match is None:
            raise ValueError(f"expected a decimal or 0x-hexadecimal address, got {text!r}")
        number = int(match.group(1), 0) if match.group(1)[:2].lower() == "0x" else int(match.group(1), 10)
    if number > 65536:
        raise ValueError(f"address {number} is beyond the 16-bit address range")
    return number


def protocol_address(text: str | int, offset: AddressOffset, size: int = 1) -> int:
    """The 0-based address sent on the wire for an operator's address, checked against the 16-bit range.

    ``jbus`` addresses start at 1, so 1 is sent as 0. ``size`` is the count of registers (or bits) the value
    spans, all of which must fit below 65536. Raises ``ValueError`` naming the problem.
    """
    number = parse_address(text)
    wire = number - 1 if offset == "jbus" else number
    if wire < 0:
        raise ValueError("jbus addresses start at 1")
    if wire + size > 65536:
        raise ValueError(f"address {number} with {size} register(s) goes past 65535")
    return wire


def _swap_words(data: bytes) -> bytes:
    """Swap the two 16-bit words of every 32-bit group."""
    return b"".join(data[i + 2 : i + 4] + data[i : i + 2] for i in range(0, len(data), 4))


def _swap_bytes(data: bytes) -> bytes:
    """Swap the two bytes of every 16-bit word."""
    swapped = bytearray(data)
    swapped[0::2], swapped[1::2] = data[1::2], data[0::2]
    return bytes(swapped)


def decode(registers: list[int], data_type: DataType, order: ByteOrder, bit_index: int = 0) -> int | float:
    """The value held by ``registers`` (exactly ``word_count(data_type)`` of them), as a Python number."""
    data = struct.pack(f">{len(registers)}H", *registers)
    if len(registers) > 1 and not order.swap_words_in_dwords:
        data = _swap_words(data)
    if order.swap_bytes_in_words:
        data = _swap_bytes(data)
    value: int | float = struct.unpack((">" if order.big_endian else "<") + _FORMAT[data_type], data)[0]
    if data_type == "bit":
        return (int(value) >> bit_index) & 1
    return value


def encode(value: int | float, data_type: DataType, order: ByteOrder) -> list[int]:
    """The registers that hold ``value`` as ``data_type`` (the inverse of ``decode``).

    Raises ``ValueError`` when the value does not fit the type (an integer type given a fraction or a number
    out of range).
    """
    if data_type == "bit":
        raise ValueError("a bit is written through its coil, not as a register")
    number: int | float
    if data_type in _INTEGER_TYPES:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{value!r} is not an integer, as {data_type} requires")
        number = int(value)
    else:
        number = float(value)
    try:
        data = struct.pack((">" if order.big_endian else "<") + _FORMAT[data_type], number)
    except (struct.error, OverflowError) as err:
        raise ValueError(f"{value!r} does not fit {data_type}") from err
    if order.swap_bytes_in_words:
        data = _swap_bytes(data)
    if len(data) > 2 and not order.swap_words_in_dwords:
        data = _swap_words(data)
    return list(struct.unpack(f">{len(data) // 2}H", data))


def format_number(value: int | float, data_type: DataType, multiplier: float = 1.0) -> str:
    """A read value as upstream hands it over: a string, scaled, rounded to 5 decimals, without a useless ``.0``.

    Integers scaled by 1 stay exact (a 64-bit counter does not go through a float).
    """
    if data_type == "bit" or (data_type in _INTEGER_TYPES and multiplier == 1):
        return str(int(value))
    scaled = float(value) * multiplier
    if math.isnan(scaled):
        return "NaN"
    if math.isinf(scaled):
        return "Infinity" if scaled > 0 else "-Infinity"
    rounded = round(scaled, 5)
    if abs(rounded) >= 1e21:
        return repr(rounded)
    text = f"{rounded:.5f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text
