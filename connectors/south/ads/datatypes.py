"""TwinCAT symbol and data type descriptions, the byte layout they give a value, and its values as upstream writes them.

The PLC describes a symbol (``ADSIGRP_SYM_INFOBYNAMEEX``, an AdsSymbolEntry: where it lives, its size and type name)
and a type by name (``ADSIGRP_SYM_DT_INFOBYNAMEEX``, an AdsDatatypeEntry: size, base type, array bounds, the fields
of a structure with their offsets, the enumerators of an enumeration). Both are parsed here from their bytes, as
TwinCAT lays them out (little endian, each text a length then the text and its NUL), with no library: pyads parses
symbols only, and not the data types.

A description turns into a ``Layout``; ``values`` cuts a read's bytes along it into upstream's point ids and texts:
a structure's field ``<point>.<field>``, an array's element ``<point>.<position from 0>``.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from connectors.common.js import js_string
from connectors.common.timestamps import iso_utc

__all__ = [
    "Array",
    "DataTypeEntry",
    "Describe",
    "Enumeration",
    "Layout",
    "Scalar",
    "Structure",
    "SymbolEntry",
    "TextOptions",
    "array_from_name",
    "enumerators",
    "parse_datatype",
    "parse_symbol",
    "resolve",
    "scalar",
    "unread",
    "values",
]

FLAG_REFERENCE_TO = 0x4
FLAG_TYPE_GUID = 0x80
FLAG_COPY_MASK = 0x200
FLAG_METHOD_INFOS = 0x800
FLAG_ATTRIBUTES = 0x1000
FLAG_ENUM_INFOS = 0x2000
"""AdsDatatypeEntry flags that say which optional parts follow the fields (TwinCAT's ADSDATATYPEFLAG_*)."""

# ADS type codes (ADST_*) of the signed integers, which tell how an enumerator's value bytes read.
_SIGNED = {16, 2, 3, 20}
_FORMATS = {1: "b", 2: "h", 4: "i", 8: "q"}

# PLC base type name -> struct format of its bytes and how its value is written.
_BASE: dict[str, tuple[str, str]] = {
    "BOOL": ("<?", "bool"),
    "BYTE": ("<B", "int"),
    "USINT": ("<B", "int"),
    "SINT": ("<b", "int"),
    "WORD": ("<H", "int"),
    "UINT": ("<H", "int"),
    "INT": ("<h", "int"),
    "DWORD": ("<I", "int"),
    "UDINT": ("<I", "int"),
    "DINT": ("<i", "int"),
    "LWORD": ("<Q", "int"),
    "ULINT": ("<Q", "int"),
    "LINT": ("<q", "int"),
    # TIME and TIME_OF_DAY count milliseconds, written as integers as upstream does.
    "TIME": ("<I", "int"),
    "TIME_OF_DAY": ("<I", "int"),
    "TOD": ("<I", "int"),
    "REAL": ("<f", "float"),
    "LREAL": ("<d", "float"),
    # DATE and DATE_AND_TIME count seconds since 1970 (UTC).
    "DATE": ("<I", "date"),
    "DATE_AND_TIME": ("<I", "date"),
    "DT": ("<I", "date"),
}
_STRING = re.compile(r"^STRING(?:\((\d+)\))?$")
# Upstream's form of an array type name: one dimension, non-negative bounds (``ARRAY [0..4] OF INT``).
_ARRAY = re.compile(r"^ARRAY\s\[(\d+)\.\.(\d+)\]\sOF\s(.+)$")


@dataclass(frozen=True, slots=True)
class SymbolEntry:
    """What the PLC says of a symbol: where its bytes are, how many, and its type name."""

    name: str
    index_group: int
    index_offset: int
    size: int
    ads_type: int
    type_name: str


@dataclass(frozen=True, slots=True)
class DataTypeEntry:
    """One AdsDatatypeEntry: a type's description, or (as a structure's field) a field's.

    ``type`` is the base type's name (an enumeration's integer type, an array's element type, an alias's type),
    ``offset`` a field's place in its structure, ``array`` the ``(lower bound, length)`` of each dimension,
    ``enum`` the enumerators with their value's bytes.
    """

    name: str
    type: str
    size: int
    ads_type: int
    offset: int = 0
    flags: int = 1
    comment: str = ""
    array: tuple[tuple[int, int], ...] = ()
    fields: tuple[DataTypeEntry, ...] = ()
    enum: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class TextOptions:
    """How values are written: upstream's ``boolAsText``, ``enumAsText`` and ``structureFiltering``."""

    bool_as_text: bool
    enum_as_text: bool
    structures: dict[str, frozenset[str] | None] = field(default_factory=dict)
    """Structure type name -> the fields handed over (``None``: all of them)."""


@dataclass(frozen=True, slots=True)
class Scalar:
    """A base type value: its bytes' format and how it is written."""

    type_name: str
    size: int
    format: str
    kind: str


@dataclass(frozen=True, slots=True)
class Enumeration:
    """An enumeration: its integer and the enumerators' names by value."""

    type_name: str
    base: Scalar
    names: dict[int, str]


@dataclass(frozen=True, slots=True)
class Structure:
    """A structure's fields (name, offset, layout); an unresolved field's layout is the reason it is not read."""

    type_name: str
    size: int
    fields: tuple[tuple[str, int, Layout | str], ...]


@dataclass(frozen=True, slots=True)
class Array:
    """A one-dimensional array: its elements' layout and count."""

    type_name: str
    element: Layout
    length: int
    element_size: int


Layout = Scalar | Enumeration | Structure | Array


def scalar(type_name: str, size: int | None = None) -> Scalar | None:
    """The layout of base type ``type_name`` (``INT``, ``STRING(80)``...), or ``None`` if it is not one."""
    base = _BASE.get(type_name)
    if base is not None:
        return Scalar(type_name, struct.calcsize(base[0]), base[0], base[1])
    string = _STRING.match(type_name)
    if string is not None:
        length = int(string.group(1) or 80) + 1
        return Scalar(type_name, size or length, "", "string")
    return None


def array_from_name(type_name: str) -> tuple[int, str] | None:
    """``(length, element type)`` of an array type name as upstream reads it, or ``None``."""
    found = _ARRAY.match(type_name)
    if found is None:
        return None
    low, high = int(found.group(1)), int(found.group(2))
    return (high - low + 1, found.group(3)) if high >= low else None


def enumerators(entry: DataTypeEntry) -> dict[int, str]:
    """An enumeration's names by integer value."""
    signed = entry.ads_type in _SIGNED
    return {int.from_bytes(raw, "little", signed=signed): name for name, raw in entry.enum}


def values(layout: Layout, data: bytes, point: str, options: TextOptions) -> Iterator[tuple[str, str]]:
    """``(point id, text)`` of every value ``layout`` lays out in ``data``, as upstream flattens it.

    A structure whose type ``structureFiltering`` does not name gives nothing, as upstream; a field whose type
    cannot be read gives nothing either.
    """
    yield from _values(layout, memoryview(data), 0, point, options)


def _values(layout: Layout, data: memoryview, at: int, point: str, options: TextOptions) -> Iterator[tuple[str, str]]:
    if isinstance(layout, Scalar):
        yield point, _text(layout, data, at, options)
    elif isinstance(layout, Enumeration):
        number = int(struct.unpack_from(layout.base.format, data, at)[0])
        # An enumerator the PLC does not describe is written as its number, in both modes: nothing is lost.
        name = layout.names.get(number)
        yield point, name if options.enum_as_text and name is not None else str(number)
    elif isinstance(layout, Array):
        for index in range(layout.length):
            element = at + index * layout.element_size
            yield from _values(layout.element, data, element, f"{point}.{index}", options)
    else:
        # The fields are those ``structureFiltering`` chose when the layout was resolved.
        for name, offset, field_layout in layout.fields:
            if not isinstance(field_layout, str):
                yield from _values(field_layout, data, at + offset, f"{point}.{name}", options)


def _text(layout: Scalar, data: memoryview, at: int, options: TextOptions) -> str:
    if layout.kind == "string":
        raw = bytes(data[at : at + layout.size])
        # TwinCAT's STRING is Windows-1252 text ending at its first NUL.
        return raw.split(b"\0", 1)[0].decode("cp1252", errors="replace")
    value = struct.unpack_from(layout.format, data, at)[0]
    if layout.kind == "bool":
        return js_string(bool(value)) if options.bool_as_text else ("1" if value else "0")
    if layout.kind == "int":
        return str(int(value))
    if layout.kind == "float":
        return js_string(float(value))
    return iso_utc(datetime.fromtimestamp(int(value), UTC))


def parse_symbol(data: bytes) -> SymbolEntry:
    """An AdsSymbolEntry: length, group, offset, size, ADS type, flags, three text lengths, then the texts."""
    _length, group, offset, size, ads_type, _flags, name_length, type_length = struct.unpack_from("<6I2H", data)
    at = 6 * 4 + 3 * 2
    name = _decode(data[at : at + name_length])
    at += name_length + 1
    return SymbolEntry(name, group, offset, size, ads_type, _decode(data[at : at + type_length]))


def parse_datatype(data: bytes) -> DataTypeEntry:
    """An AdsDatatypeEntry (starting at its entry length), its fields' entries parsed in it."""
    entry, _ = _datatype(memoryview(data), 0)
    return entry


def _datatype(data: memoryview, start: int) -> tuple[DataTypeEntry, int]:
    length, _version, _hash, _type_hash, size, offset, ads_type, flags = struct.unpack_from("<8I", data, start)
    name_length, type_length, comment_length, dimensions, count = struct.unpack_from("<5H", data, start + 32)
    at = start + 42
    name = _decode(data[at : at + name_length])
    at += name_length + 1
    base = _decode(data[at : at + type_length])
    at += type_length + 1
    comment = _decode(data[at : at + comment_length])
    at += comment_length + 1
    bounds = tuple(struct.unpack_from("<iI", data, at + 8 * index) for index in range(dimensions))
    at += 8 * dimensions
    fields: list[DataTypeEntry] = []
    for _ in range(count):
        item, at = _datatype(data, at)
        fields.append(item)
    if flags & FLAG_TYPE_GUID:
        at += 16
    if flags & FLAG_COPY_MASK:
        at += size
    if flags & FLAG_METHOD_INFOS:
        (methods,) = struct.unpack_from("<H", data, at)
        at += 2
        for _ in range(methods):
            at += struct.unpack_from("<I", data, at)[0]
    if flags & FLAG_ATTRIBUTES:
        (attributes,) = struct.unpack_from("<H", data, at)
        at += 2
        for _ in range(attributes):
            key, value = struct.unpack_from("<BB", data, at)
            at += 2 + key + 1 + value + 1
    enum: list[tuple[str, bytes]] = []
    if flags & FLAG_ENUM_INFOS:
        (enumerators_count,) = struct.unpack_from("<H", data, at)
        at += 2
        for _ in range(enumerators_count):
            key = data[at]
            label = _decode(data[at + 1 : at + 1 + key])
            at += 1 + key + 1
            enum.append((label, bytes(data[at : at + size])))
            at += size
    entry = DataTypeEntry(
        name=name,
        type=base,
        size=size,
        ads_type=ads_type,
        offset=offset,
        flags=flags,
        comment=comment,
        array=tuple((int(low), int(count)) for low, count in bounds),
        fields=tuple(fields),
        enum=tuple(enum),
    )
    # The entry length, not what was parsed, says where the next entry starts: TwinCAT may append parts.
    return entry, start + length


def _decode(raw: bytes | memoryview) -> str:
    return bytes(raw).decode("cp1252", errors="replace")


Describe = Callable[[str], Awaitable[DataTypeEntry | None]]
"""Asks the PLC to describe a type by name; ``None`` when it does not know the name."""


async def resolve(
    type_name: str, size: int, describe: Describe, options: TextOptions, cache: dict[str, Layout | str]
) -> Layout | str:
    """The layout of a value of ``type_name`` (``size`` bytes), or why it cannot be read.

    Base types are known by name; others are described by the PLC, their fields and elements resolved in turn.
    Only the structures ``structureFiltering`` names have their (chosen) fields resolved: the others give no
    value, so their fields' types are never asked for. ``cache`` holds what was resolved, by type name.
    """
    found = cache.get(type_name)
    if found is None:
        found = scalar(type_name, size) or await _described(type_name, size, describe, options, cache)
        cache[type_name] = found
    return found


async def _described(
    name: str, size: int, describe: Describe, options: TextOptions, cache: dict[str, Layout | str]
) -> Layout | str:
    entry = await describe(name)
    if entry is None:
        # TwinCAT 2 describes no array type: its name says what upstream needs.
        shape = array_from_name(name)
        if shape is None:
            return f"the PLC does not describe type {name}"
        return await _array(name, shape[1], shape[0], size, describe, options, cache)
    if entry.array:
        if len(entry.array) != 1:
            return f"{name} has {len(entry.array)} dimensions; only arrays of one dimension are read, as upstream"
        return await _array(name, entry.type, entry.array[0][1], entry.size, describe, options, cache)
    if entry.enum:
        base = scalar(entry.type)
        if base is None or base.kind != "int" or base.size != entry.size:
            base = Scalar(entry.type, entry.size, _integer_format(entry.size, entry.ads_type in _SIGNED), "int")
        return Enumeration(name, base, enumerators(entry))
    if entry.fields:
        if name not in options.structures:
            return Structure(name, entry.size, ())
        wanted = options.structures[name]
        fields: list[tuple[str, int, Layout | str]] = []
        for item in entry.fields:
            if wanted is None or item.name in wanted:
                layout = await resolve(item.type, item.size, describe, options, cache)
                fields.append((item.name, item.offset, layout))
        return Structure(name, entry.size, tuple(fields))
    if entry.type and entry.type != name and not entry.flags & FLAG_REFERENCE_TO and not name.startswith("POINTER"):
        # An alias (``TYPE T_Level : REAL``) reads as its type, if it has its type's size: a pointer or a
        # reference names the type it points to and holds an address.
        aliased = await resolve(entry.type, entry.size, describe, options, cache)
        if isinstance(aliased, str) or _size(aliased) == entry.size:
            return aliased
    return f"type {name} is neither a base type, an enumeration, a structure, an array nor an alias"


def _size(layout: Layout) -> int:
    if isinstance(layout, Enumeration):
        return layout.base.size
    if isinstance(layout, Array):
        return layout.length * layout.element_size
    return layout.size


async def _array(
    name: str,
    element_type: str,
    length: int,
    size: int,
    describe: Describe,
    options: TextOptions,
    cache: dict[str, Layout | str],
) -> Layout | str:
    stride = size // length if length else 0
    element = await resolve(element_type, stride, describe, options, cache)
    if isinstance(element, str):
        return f"elements of {name}: {element}"
    return Array(name, element, length, stride)


def unread(layout: Layout) -> list[str]:
    """Why the fields ``structureFiltering`` asks for in ``layout`` cannot be read (none: every one is)."""
    if isinstance(layout, Array):
        return unread(layout.element)
    if isinstance(layout, Structure):
        reasons: list[str] = []
        for name, _offset, field_layout in layout.fields:
            if isinstance(field_layout, str):
                reasons.append(f"{layout.type_name}.{name}: {field_layout}")
            else:
                reasons.extend(unread(field_layout))
        return reasons
    return []


def _integer_format(size: int, signed: bool) -> str:
    base = _FORMATS.get(size, "q")
    return "<" + (base if signed else base.upper())
