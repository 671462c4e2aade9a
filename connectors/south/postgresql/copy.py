"""PostgreSQL writes an item's CSV itself (``COPY ... TO STDOUT``) when it can write it as the row path would.

Formatting rows in Python (decoding each value, then the csv module) holds the South to a couple of hundred
thousand rows a second; ``COPY`` streams text the server formatted, which the South only writes to the file.
The plan is made only when the result is the same file the row path writes (``CsvRowWriter``):

- there are two columns or more (the csv module writes a lone empty field as ``""``);
- every column is an integer or a text type (their text is Python's ``str``; an empty text is written as
  NULL, unquoted, as the csv module writes it), or a date-time field of type
  ``timestamptz`` written with one of the ISO output formats (``to_char`` in the output zone; milliseconds
  truncated as the row path does);
- the placeholders are instants bound to ``timestamptz`` parameters, the delimiter is one byte, and the
  output zone is one PostgreSQL knows by the same IANA name;

otherwise the row path runs. ``COPY`` takes no parameters, so the values still travel apart from the text:
``set_config`` binds them (driver parameters) to transaction settings the statement reads with
``current_setting``. The newest reference instant comes from ``max()`` over the same query in the same
repeatable-read snapshot, so it never names a row the file does not hold.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connectors.common.sql.query import bind_placeholders
from connectors.common.sql.settings import DELIMITERS, DateTimeField, SqlSerialization
from connectors.common.sql.timefmt import zone

__all__ = ["CopyPlan", "copy_plan"]

TO_CHAR = {
    "yyyy-MM-dd HH:mm:ss": "YYYY-MM-DD HH24:MI:SS",
    "yyyy-MM-dd HH:mm:ss.SSS": "YYYY-MM-DD HH24:MI:SS.MS",
    "yyyy-MM-dd'T'HH:mm:ss": 'YYYY-MM-DD"T"HH24:MI:SS',
    "yyyy-MM-dd'T'HH:mm:ss.SSS": 'YYYY-MM-DD"T"HH24:MI:SS.MS',
}
"""The output formats ``to_char`` writes exactly as the row path (``timefmt.iso_writer``) does."""

AS_STR = frozenset({"int2", "int4", "int8", "text", "varchar", "bpchar"})
"""Column types whose PostgreSQL text is the ``str`` of the value asyncpg decodes (floats, numerics and
booleans are not: ``5`` vs ``5.0``, ``1E-7``, ``t`` vs ``True``)."""

_INTEGERS = frozenset({"int2", "int4", "int8"})
_IANA = re.compile(r"[A-Za-z_]+(?:/[A-Za-z0-9_+-]+)+")
_UTC_NAMES = frozenset({"UTC", "utc", "Etc/UTC", "Z"})
_NOT_INSTANT = frozenset({"string", "unix-epoch", "unix-epoch-ms"})


@dataclass(frozen=True, slots=True)
class CopyPlan:
    """The statements of one item's read, and the values ``set_config`` binds before them."""

    rows: str
    """The ``SELECT`` of the formatted rows (asyncpg wraps it in ``COPY (...) TO STDOUT``)."""
    delimiter: str
    newest: str | None
    """``SELECT`` of the newest reference instant (``None``: no reference column)."""
    settings: tuple[tuple[str, str], ...]
    """``(name, value)`` for each ``set_config``: the placeholders' instants, the output zone."""


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _output_zone(name: str) -> str | None:
    try:
        zone(name)
    except ValueError:
        return None
    if name in _UTC_NAMES:
        return "UTC"
    return name if _IANA.fullmatch(name) else None


def copy_plan(
    query: str,
    columns: Sequence[tuple[str, str]],
    parameter_types: Sequence[str],
    values: Sequence[Any],
    fields: Sequence[DateTimeField],
    out: SqlSerialization,
) -> CopyPlan | None:
    """The plan for ``query`` (columns as ``(name, type)``, as prepared), or ``None`` when the row path must run."""
    pattern = TO_CHAR.get(out.output_timestamp_format)
    delimiter = DELIMITERS[out.delimiter]
    output_zone = _output_zone(out.output_timezone)
    names = [name for name, _ in columns]
    unique = len(set(names)) == len(names) > 1
    if pattern is None or len(delimiter.encode()) != 1 or output_zone is None or not unique:
        return None
    if len(values) != len(parameter_types) or not all(
        kind == "timestamptz" and isinstance(value, datetime) and value.tzinfo is not None
        for kind, value in zip(parameter_types, values, strict=True)
    ):
        return None
    by_name = {field.field_name: field for field in fields}
    selected: list[str] = []
    references: list[str] = []
    for name, kind in columns:
        column = f"oibus_rows.{_ident(name)}"
        field = by_name.get(name)
        if field is None and kind in AS_STR:
            selected.append(column if kind in _INTEGERS else f"nullif({column}, '') AS {_ident(name)}")
        elif field is not None and kind == "timestamptz" and field.type not in _NOT_INSTANT:
            written = f"to_char({column} AT TIME ZONE current_setting('oibus.tz'), {_literal(pattern)})"
            selected.append(f"{written} AS {_ident(name)}")
            if field.use_as_reference:
                references.append(f"max({column})")
        else:
            return None
    bound = bind_placeholders(query, "dollar", marker=lambda n: f"current_setting('oibus.p{n}')::timestamptz")
    rows = f"FROM ({bound.text.rstrip().rstrip(';')}\n) AS oibus_rows"
    newest = None
    if references:
        newest = f"SELECT {references[0] if len(references) == 1 else 'greatest(' + ', '.join(references) + ')'} {rows}"
    settings = [(f"oibus.p{index}", value.isoformat()) for index, value in enumerate(values, start=1)]
    return CopyPlan(
        rows=f"SELECT {', '.join(selected)} {rows}",
        delimiter=delimiter,
        newest=newest,
        settings=(*settings, ("oibus.tz", output_zone)),
    )
