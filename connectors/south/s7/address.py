"""S7 item addresses (``DB1,REAL4``, ``DB1,X4.0``, ``MW2``, ``I0.1``...), their decoding and batched reads."""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Literal

__all__ = ["Address", "Area", "Span", "decode", "parse_address", "plan"]

Area = Literal["DB", "M", "I", "Q"]

# Type name -> (bytes read, struct format). ``None`` formats are decoded by hand (bits, chars, strings).
_SIZES: dict[str, tuple[int, str | None]] = {
    "X": (1, None),
    "B": (1, ">B"),
    "C": (1, None),
    "SINT": (1, ">b"),
    "USINT": (1, ">B"),
    "I": (2, ">h"),
    "W": (2, ">H"),
    "UINT": (2, ">H"),
    "DI": (4, ">i"),
    "DW": (4, ">I"),
    "UDINT": (4, ">I"),
    "R": (4, ">f"),
    "LINT": (8, ">q"),
    "ULINT": (8, ">Q"),
    "LWORD": (8, ">Q"),
    "LR": (8, ">d"),
    "S": (0, None),
}

# Long names and the short forms of memory, input and output addresses (``MD4``: a DWORD of the merkers).
_ALIASES = {
    "BOOL": "X",
    "BYTE": "B",
    "CHAR": "C",
    "INT": "I",
    "WORD": "W",
    "DINT": "DI",
    "DWORD": "DW",
    "D": "DW",
    "REAL": "R",
    "LREAL": "LR",
    "STRING": "S",
}

_AREAS = {"DB": "DB", "M": "M", "I": "I", "E": "I", "Q": "Q", "A": "Q"}
_DB = re.compile(r"DB(\d+),([A-Z]+)(\d+)(?:\.(\d+))?")
_OTHER = re.compile(r"([MIEQA])([A-Z]*?)(\d+)(?:\.(\d+))?")

MAX_STRING = 254
"""The longest S7 STRING."""


@dataclass(frozen=True, slots=True)
class Address:
    """One parsed address: the bytes it spans in its area, and how they are decoded."""

    area: Area
    db: int
    type: str
    offset: int
    bit: int = 0
    length: int = 0
    """STRING: the declared maximum length (the value occupies ``length + 2`` bytes)."""

    @property
    def size(self) -> int:
        """Bytes read for the value."""
        if self.type == "S":
            return self.length + 2
        return _SIZES[self.type][0]


def parse_address(text: str) -> Address:
    """Parse an address as upstream writes them; raise ``ValueError`` saying what is wrong."""
    raw = text.strip().upper()
    found = _DB.fullmatch(raw)
    if found:
        db, name, offset, suffix = found.groups()
        area: Area = "DB"
        number = int(db)
        if number < 1:
            raise ValueError(f"{text!r}: data block numbers start at 1")
    else:
        found = _OTHER.fullmatch(raw)
        if not found:
            raise ValueError(
                f"{text!r} is not an S7 address (expected DB<n>,<type><byte>[.<bit or length>], e.g. DB1,REAL4, "
                "or <M|I|Q><type><byte>, e.g. MW2, I0.1)"
            )
        letter, name, offset, suffix = found.groups()
        area = _AREAS[letter]  # type: ignore[assignment]
        number = 0
        name = name or "X"
    kind = _ALIASES.get(name, name)
    if kind not in _SIZES:
        known = ", ".join(sorted({*_SIZES, *_ALIASES}))
        raise ValueError(f"{text!r}: unknown data type {name!r} (known: {known})")
    return _address(text, area, number, kind, int(offset), suffix)


def _address(text: str, area: Area, db: int, kind: str, offset: int, suffix: str | None) -> Address:
    if kind == "X":
        if suffix is None:
            raise ValueError(f"{text!r}: a bit address needs its bit, e.g. DB1,X4.0")
        bit = int(suffix)
        if bit > 7:
            raise ValueError(f"{text!r}: bit {bit} is out of 0-7")
        return Address(area, db, kind, offset, bit=bit)
    if kind == "S":
        length = MAX_STRING if suffix is None else int(suffix)
        if not 1 <= length <= MAX_STRING:
            raise ValueError(f"{text!r}: a string length is 1-{MAX_STRING}")
        return Address(area, db, kind, offset, length=length)
    if suffix is not None:
        raise ValueError(f"{text!r}: only bit (X) and string (S) addresses take a '.' suffix")
    return Address(area, db, kind, offset)


def decode(address: Address, data: bytes | bytearray) -> bool | int | float | str:
    """The value of ``address`` from the ``address.size`` bytes read at its offset."""
    if address.type == "X":
        return bool(data[0] >> address.bit & 1)
    if address.type == "C":
        return bytes(data[:1]).decode("latin-1")
    if address.type == "S":
        # Byte 0 is the declared maximum, byte 1 the current length; a PLC may send a length past the maximum.
        length = min(data[1], address.length)
        return bytes(data[2 : 2 + length]).decode("latin-1")
    fmt = _SIZES[address.type][1]
    assert fmt is not None
    value: int | float = struct.unpack(fmt, bytes(data))[0]
    return value


@dataclass(slots=True)
class Span:
    """One area read: ``size`` bytes from ``start`` of one area, and the addresses it covers."""

    area: Area
    db: int
    start: int
    size: int
    members: list[tuple[str, Address]]


def plan(addresses: list[tuple[str, Address]], *, gap: int, limit: int) -> list[Span]:
    """Group addresses of the same area (and data block) into as few reads as ``gap`` allows.

    Two addresses share a read when at most ``gap`` unused bytes lie between them and the read stays within
    ``limit`` bytes; the keys (item ids) ride along so that each value finds its item.
    """
    ordered = sorted(addresses, key=lambda pair: (pair[1].area, pair[1].db, pair[1].offset))
    spans: list[Span] = []
    for key, address in ordered:
        last = spans[-1] if spans else None
        end = address.offset + address.size
        if (
            last is not None
            and (last.area, last.db) == (address.area, address.db)
            and address.offset <= last.start + last.size + gap
            and max(end, last.start + last.size) - last.start <= limit
        ):
            last.size = max(end, last.start + last.size) - last.start
            last.members.append((key, address))
            continue
        spans.append(Span(address.area, address.db, address.offset, address.size, [(key, address)]))
    return spans
