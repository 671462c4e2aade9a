"""South items as CSV, the upstream way: one row per item, settings flattened into ``settings_<key>`` columns.

Columns (reference §2.7): ``name, enabled, scanMode, group, maxReadInterval, readDelay, startTimeOffset,
endTimeOffset, recoveryStrategy, syncWithGroup``, then ``settings_<key>`` for every item setting of the
South type (objects and arrays JSON-encoded). ``scanMode`` and ``group`` are names. Booleans are written
``true``/``false``; ``true/false/1/0`` are read in any case.

Reading turns each row into an item command for the store and names every problem by its line (the header
is line 1; a quoted value spanning lines counts them all) and its column. Values are coerced by msgspec
(``strict=False``): nothing here re-implements what the schema library already checks.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from connectors.errors import SettingsError

SETTINGS_PREFIX = "settings_"
COLUMNS = (
    "name",
    "enabled",
    "scanMode",
    "group",
    "maxReadInterval",
    "readDelay",
    "startTimeOffset",
    "endTimeOffset",
    "recoveryStrategy",
    "syncWithGroup",
)
_INTEGER_COLUMNS = ("maxReadInterval", "readDelay", "startTimeOffset", "endTimeOffset")
_TRUE, _FALSE = frozenset({"true", "1"}), frozenset({"false", "0"})
DEFAULT_DELIMITER = ","
# What the OpenAPI document states of a delimiter: empty (the default) or one ASCII punctuation or blank
# character. Every value it matches passes ``check_delimiter``, which also takes other non-alphanumeric
# characters (a pattern cannot say "not a letter" for every script).
DELIMITER_SCHEMA: dict[str, object] = {
    "type": "string",
    "maxLength": 1,
    "pattern": r"^[ \t!#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]?$(?!\n)",
    "default": DEFAULT_DELIMITER,
}


def check_delimiter(value: str | None, path: str = "delimiter") -> str:
    """The delimiter to use (``,`` when none is given); ``SettingsError`` for anything but one plain character."""
    if value is None or value == "":
        return DEFAULT_DELIMITER
    if len(value) != 1 or value in '"\r\n' or value.isalnum():
        problem = "must be one character other than a letter, a digit, a quote or a newline"
        raise SettingsError({path: f"{problem}, got {value!r}"})
    return value


def _cell(value: Any) -> str:
    """The CSV text of one value (``None`` is empty, booleans ``true``/``false``, containers JSON)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def _name_of(value: Any) -> str:
    """The name of a scan mode or group given as a DTO (``{name}`` or ``{standardSettings: {name}}``) or a name."""
    if isinstance(value, Mapping):
        standard = value.get("standardSettings")
        if isinstance(standard, Mapping):
            return str(standard.get("name") or "")
        return str(value.get("name") or "")
    return "" if value is None else str(value)


def to_csv(items: Iterable[Mapping[str, Any]], setting_keys: Iterable[str], delimiter: str) -> str:
    """The CSV text of items (DTOs, or commands carrying ``scanModeName``/``groupName``).

    ``setting_keys`` are the item settings of the South type: each gets a column even when no item sets it.
    A setting an item has beyond them gets a column too, so nothing is lost.
    """
    rows = list(items)
    keys = list(dict.fromkeys(setting_keys))
    for item in rows:
        settings = item.get("settings")
        if isinstance(settings, Mapping):
            keys.extend(key for key in settings if key not in keys)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow([*COLUMNS, *(SETTINGS_PREFIX + key for key in keys)])
    for item in rows:
        settings = item.get("settings") if isinstance(item.get("settings"), Mapping) else {}
        assert isinstance(settings, Mapping)
        scan_mode = _name_of(item.get("scanMode")) or _name_of(item.get("scanModeName"))
        group = _name_of(item.get("group")) or _name_of(item.get("groupName"))
        writer.writerow(
            [
                _cell(item.get("name")),
                _cell(bool(item.get("enabled", True))),
                scan_mode,
                group,
                *(_cell(item.get(column)) for column in _INTEGER_COLUMNS),
                _cell(item.get("recoveryStrategy")),
                _cell(bool(item.get("syncWithGroup", False))),
                *(_cell(settings.get(key)) for key in keys),
            ]
        )
    return out.getvalue()


@dataclass(slots=True)
class Row:
    """One data row of an items CSV: its first line in the file and its values by column."""

    line: int
    values: dict[str, str]


@dataclass(slots=True)
class ParsedRow:
    """A row turned into an item command, with the problems found in its columns (column -> problem)."""

    row: Row
    command: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)


def read_rows(text: str, delimiter: str, path: str = "itemsToImport") -> list[Row]:
    """The data rows of an items CSV; ``SettingsError`` (under ``path``) when the file itself is unreadable."""
    text = text.removeprefix("\ufeff")  # Spreadsheets often save UTF-8 with a byte order mark.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            raise SettingsError({path: "the file is empty: it needs a header line with a 'name' column"})
        header = [cell.strip() for cell in header]
        if "name" not in header:
            hint = next((other for other in ",;\t|" if other != delimiter and other in header[0]), None)
            problem = "the header line has no 'name' column"
            if hint is not None:
                problem += f" (the file seems delimited by {hint!r}, not {delimiter!r})"
            raise SettingsError({path: problem})
        duplicates = sorted({cell for cell in header if header.count(cell) > 1})
        if duplicates:
            raise SettingsError({path: f"the header line repeats the column(s) {', '.join(duplicates)}"})
        rows: list[Row] = []
        line = reader.line_num + 1
        for cells in reader:
            start, line = line, reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue  # A blank line (often the last one).
            values = dict(zip(header, cells, strict=False))
            if len(cells) > len(header):
                values[""] = f"{len(cells)} values for {len(header)} columns"
            rows.append(Row(line=start, values=values))
    except csv.Error as err:
        raise SettingsError({path: f"line {reader.line_num}: {err}"}) from err
    return rows


def _boolean(text: str, default: bool) -> bool | None:
    lowered = text.strip().lower()
    if lowered == "":
        return default
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return None


def _is_container(type_: msgspec.inspect.Type) -> bool:
    """Whether a setting's values are JSON objects or arrays in a CSV cell."""
    if isinstance(type_, msgspec.inspect.Metadata):
        return _is_container(type_.type)
    if isinstance(type_, msgspec.inspect.UnionType):
        return any(_is_container(member) for member in type_.types)
    return isinstance(
        type_,
        msgspec.inspect.StructType
        | msgspec.inspect.ListType
        | msgspec.inspect.DictType
        | msgspec.inspect.TypedDictType
        | msgspec.inspect.DataclassType
        | msgspec.inspect.VarTupleType
        | msgspec.inspect.SetType,
    )


def _is_text(type_: msgspec.inspect.Type) -> bool:
    """Whether a setting holds text (an empty cell of an optional one is then the empty string)."""
    if isinstance(type_, msgspec.inspect.Metadata):
        return _is_text(type_.type)
    return isinstance(type_, msgspec.inspect.StrType)


def _message(err: msgspec.ValidationError) -> str:
    return str(err).split(" - at `$", 1)[0]


def parse_row(row: Row, item_settings: type[msgspec.Struct]) -> ParsedRow:
    """Turn a row into an item command (``scanModeName``, ``groupName``, typed settings); collect its problems."""
    values, errors = row.values, {}
    if "" in values:
        errors["line"] = values[""]
    name = values.get("name", "").strip()
    command: dict[str, Any] = {"name": name}
    if not name:
        errors["name"] = "an item needs a name"
    for column, default in (("enabled", True), ("syncWithGroup", False)):
        flag = _boolean(values.get(column, ""), default)
        if flag is None:
            errors[column] = f"expected true or false, got {values[column]!r}"
        command[column] = flag
    scan_mode = values.get("scanMode", "").strip()
    if scan_mode:
        command["scanModeName"] = scan_mode
    group = values.get("group", "").strip()
    if group:
        command["groupName"] = group
    for column in _INTEGER_COLUMNS:
        text = values.get(column, "").strip()
        if text:
            try:
                command[column] = int(text)
            except ValueError:
                errors[column] = f"expected an integer, got {text!r}"
    if values.get("recoveryStrategy", "").strip():
        command["recoveryStrategy"] = values["recoveryStrategy"].strip()
    command["settings"] = _settings(values, item_settings, errors)
    return ParsedRow(row=row, command=command, errors=errors)


def _settings(values: Mapping[str, str], item_settings: type[msgspec.Struct], errors: dict[str, str]) -> dict[str, Any]:
    """The item settings of a row's ``settings_<key>`` columns, each converted by msgspec as the schema says."""
    info = msgspec.inspect.type_info(item_settings)
    assert isinstance(info, msgspec.inspect.StructType)
    fields = {f.encode_name: f for f in info.fields}
    settings: dict[str, Any] = {}
    for column, text in values.items():
        if not column.startswith(SETTINGS_PREFIX):
            continue
        key = column.removeprefix(SETTINGS_PREFIX)
        spec = fields.get(key)
        if spec is None:
            errors[column] = "not an item setting of this South type"
            continue
        if text == "" and (spec.required or not _is_text(spec.type)):
            # Not set: the setting's default applies, or a required one is reported missing below. An
            # optional text setting keeps its empty value.
            continue
        raw: Any = text
        if _is_container(spec.type) and text.strip()[:1] in ("{", "["):
            try:
                raw = json.loads(text)
            except ValueError as err:
                errors[column] = f"invalid JSON: {err}"
                continue
        try:
            one = msgspec.convert({spec.name: raw}, _one_field(item_settings, spec.name), strict=False)
            settings[key] = msgspec.to_builtins(getattr(one, spec.name))
        except msgspec.ValidationError as err:
            errors[column] = _message(err)
    for spec in fields.values():
        if spec.required and spec.encode_name not in settings and SETTINGS_PREFIX + spec.encode_name not in errors:
            errors[SETTINGS_PREFIX + spec.encode_name] = "required setting missing"
    return settings


_single_fields: dict[tuple[type[msgspec.Struct], str], type[msgspec.Struct]] = {}


def _one_field(struct: type[msgspec.Struct], name: str) -> type[msgspec.Struct]:
    """A struct holding only the field ``name`` of ``struct`` (same type and constraints), to convert it alone."""
    found = _single_fields.get((struct, name))
    if found is None:
        spec = next(f for f in msgspec.structs.fields(struct) if f.name == name)
        found = msgspec.defstruct(f"{struct.__name__}_{name}", [(name, spec.type)], kw_only=True)
        _single_fields[(struct, name)] = found
    return found


def column_of(path: str) -> str:
    """The CSV column an item command's error path is about (``settings.scale`` -> ``settings_scale``)."""
    if path.startswith("settings."):
        return SETTINGS_PREFIX + path.removeprefix("settings.").split(".", 1)[0].split("[", 1)[0]
    head = path.split(".", 1)[0]
    return {"scanModeName": "scanMode", "scanModeId": "scanMode", "groupName": "group", "groupId": "group"}.get(
        head, head or "line"
    )
