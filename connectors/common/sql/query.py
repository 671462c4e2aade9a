"""``@StartTime``/``@EndTime`` placeholders rewritten into driver parameters, never into SQL text.

The query text is scanned once: quoted strings, quoted identifiers and comments are copied as they are (a
``'@StartTime'`` literal stays a literal), and each placeholder outside them becomes the driver's own
parameter marker. The values then travel apart from the text, so nothing an operator or a source puts in a
date-time value can change what the statement does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

__all__ = ["BoundQuery", "ParamStyle", "bind_placeholders"]

ParamStyle = Literal["dollar", "qmark", "format", "numeric", "pyformat"]
"""``$1`` (PostgreSQL), ``?`` (SQLite, ODBC), ``%s`` (MySQL), ``:1`` (Oracle), ``%(p1)s`` (SQL Server).

pymssql replaces every ``%s`` of the text, inside quoted strings too, and never undoes ``%%``: named
markers with a dict of values leave a ``LIKE '%s%'`` of the query alone.
"""

_SCAN = re.compile(
    r"""('(?:[^']|'')*'?)"""  # string literal ('' escapes a quote)
    r"""|("(?:[^"]|"")*"?)"""  # quoted identifier
    r"|(`[^`]*`?)"  # MySQL quoted identifier
    r"|(--[^\n]*)"  # line comment
    r"|(/\*.*?(?:\*/|$))"  # block comment
    r"|(@StartTime|@EndTime)\b"
    r"|(%)",
    re.S,
)


@dataclass(frozen=True, slots=True)
class BoundQuery:
    """The rewritten text and, in order, which placeholder each parameter stands for."""

    text: str
    names: tuple[str, ...]

    def values(self, start: object, end: object) -> list[object]:
        """The parameter values, in marker order."""
        return [start if name == "@StartTime" else end for name in self.names]


def bind_placeholders(query: str, style: ParamStyle, marker: Callable[[int], str] | None = None) -> BoundQuery:
    """Rewrite the placeholders of ``query`` for ``style``; a literal ``%`` is doubled for ``format``.

    ``marker``: what the n-th placeholder (from 1) becomes instead of ``style``'s marker.
    """
    names: list[str] = []
    out: list[str] = []
    position = 0
    for match in _SCAN.finditer(query):
        out.append(query[position : match.start()])
        position = match.end()
        placeholder, percent = match.group(6), match.group(7)
        if placeholder:
            names.append(placeholder)
            out.append(marker(len(names)) if marker is not None else _marker(style, len(names)))
        elif percent:
            out.append("%%" if style == "format" else "%")
        elif style == "format":
            out.append(match.group(0).replace("%", "%%"))
        else:
            out.append(match.group(0))
    out.append(query[position:])
    text = "".join(out)
    if style == "format" and not names:
        # Without parameters the drivers do not apply %-formatting: keep a literal % single.
        text = query
    return BoundQuery(text, tuple(names))


def _marker(style: ParamStyle, index: int) -> str:
    if style == "dollar":
        return f"${index}"
    if style == "numeric":
        return f":{index}"
    if style == "pyformat":
        return f"%(p{index})s"
    if style == "format":
        return "%s"
    return "?"
