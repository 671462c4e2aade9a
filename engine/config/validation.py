"""msgspec validation that reports every bad field at once instead of stopping at the first.

msgspec stops at the first error. On failure we convert again field by field (recursing into nested
structs and lists of structs) so that each bad field is reported with msgspec's own message and a path
like ``items[3].settings.regex``. msgspec stays the only validator of each field's own rules; the one
check added here applies to every integer of every command alike: it must fit in 64 bits, what the IPC
frames (msgpack) and the store (SQLite) can carry to a worker. A larger one was saved, then crash-looped
the worker on "Integer value out of range".
"""

from __future__ import annotations

import re
import types
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

import msgspec

from connectors.errors import SettingsError

T = TypeVar("T")

INT_MIN, INT_MAX = -(2**63), 2**63 - 1

_AT = re.compile(r"^(?P<message>.*) - at `\$(?P<path>[^`]*)`$", re.DOTALL)
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]+)`$")


def join(path: str, suffix: str) -> str:
    """``join("items[3]", ".name") == "items[3].name"``; ``join("", ".name") == "name"``."""
    combined = f"{path}{suffix}"
    return combined[1:] if combined.startswith(".") else combined


def convert(data: Any, type_: type[T], *, path: str = "") -> T:
    """``msgspec.convert`` that raises ``SettingsError`` naming every bad field under ``path``."""
    errors: dict[str, str] = {}
    value = try_convert(data, type_, path, errors)
    if value is None:
        raise SettingsError(errors)
    return value


def try_convert(data: Any, type_: type[T], path: str, errors: dict[str, str]) -> T | None:
    """Convert ``data``; on failure add every problem to ``errors`` and return ``None``.

    The fast path is one ``msgspec.convert`` call: only invalid data pays for the field-by-field pass.
    """
    too_large: dict[str, str] = {}
    try:
        value = msgspec.convert(data, type_)
    except msgspec.ValidationError as err:
        found: dict[str, str] = {}
        _out_of_range(data, path, found)
        if found:
            errors.update(found)
            return None
        collect(data, type_, path, found)
        if not found:
            # The fields are fine one by one but not together (a struct's own check): report that.
            _add(found, path, str(err))
        errors.update(found)
        return None
    if _all_fit(data):
        return value  # What is kept is part of what came: it fits too.
    # Only what is kept must fit: an unknown field is dropped, whatever number it holds.
    _out_of_range(msgspec.to_builtins(value), path, too_large)
    if too_large:
        errors.update(too_large)
        return None
    return value


def _all_fit(data: Any) -> bool:
    """Whether every integer of ``data`` fits signed 64 bits: the check of valid data, which names no path."""
    if type(data) is int:
        return INT_MIN <= data <= INT_MAX
    if isinstance(data, dict):
        return all(map(_all_fit, data.values()))
    if isinstance(data, list):
        return all(map(_all_fit, data))
    return True


def _out_of_range(data: Any, path: str, errors: dict[str, str]) -> None:
    """Name every integer of ``data`` that a worker could not receive (outside signed 64 bits)."""
    if isinstance(data, int) and not isinstance(data, bool):
        if not INT_MIN <= data <= INT_MAX:
            errors[path or "body"] = f"Integer value out of range: expected a value between {INT_MIN} and {INT_MAX}"
    elif isinstance(data, dict):
        for key, value in data.items():
            _out_of_range(value, join(path, f".{key}"), errors)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            _out_of_range(value, f"{path}[{index}]", errors)


def collect(data: Any, type_: Any, path: str, errors: dict[str, str]) -> None:
    """Add to ``errors`` the problems of ``data`` against ``type_``, one per field."""
    struct = _struct_of(type_, data)
    if struct is not None and isinstance(data, dict):
        config = struct.__struct_config__
        known: set[str] = set()
        for info in msgspec.structs.fields(struct):
            known.add(info.encode_name)
            if config.tag_field is not None and info.encode_name == config.tag_field:
                continue
            field_path = join(path, f".{info.encode_name}")
            if info.encode_name not in data:
                if info.required:
                    errors[field_path] = f"Object missing required field `{info.encode_name}`"
                continue
            collect(data[info.encode_name], info.type, field_path, errors)
        if config.forbid_unknown_fields:
            for key in data:
                if key not in known and key != config.tag_field:
                    errors[join(path, f".{key}")] = f"Object contains unknown field `{key}`"
        return
    element = _list_element_struct(type_)
    if element is not None and isinstance(data, list):
        for index, value in enumerate(data):
            collect(value, element, f"{path}[{index}]", errors)
        return
    try:
        msgspec.convert(data, type_)
    except msgspec.ValidationError as err:
        _add(errors, path, str(err))


def _add(errors: dict[str, str], path: str, text: str) -> None:
    """Record msgspec's message, moving its ``- at `$...``` suffix and a missing field name into the path."""
    message, where = text, ""
    located = _AT.match(text)
    if located:
        message, where = located.group("message"), located.group("path")
    missing = _MISSING.match(message)
    if missing:
        where = f"{where}.{missing.group('field')}"
    errors[join(path, where) or "body"] = message


def _unwrap(type_: Any) -> Any:
    while get_origin(type_) is Annotated:
        type_ = get_args(type_)[0]
    return type_


def _non_none_members(type_: Any) -> list[Any]:
    if get_origin(type_) in (Union, types.UnionType):
        return [_unwrap(member) for member in get_args(type_) if member is not type(None)]
    return [type_]


def _struct_of(type_: Any, data: Any) -> type[msgspec.Struct] | None:
    """Return the struct ``type_`` describes (through ``Annotated`` and ``| None``), or ``None``."""
    if data is None:
        return None
    members = _non_none_members(_unwrap(type_))
    if len(members) == 1 and isinstance(members[0], type) and issubclass(members[0], msgspec.Struct):
        return members[0]
    return None


def _list_element_struct(type_: Any) -> type[msgspec.Struct] | None:
    """Return the element struct of ``list[Struct]`` (possibly ``| None`` or ``| UnsetType``), or ``None``."""
    for member in _non_none_members(_unwrap(type_)):
        if get_origin(member) is list:
            (element,) = get_args(member)
            element = _unwrap(element)
            if isinstance(element, type) and issubclass(element, msgspec.Struct):
                return element
    return None
