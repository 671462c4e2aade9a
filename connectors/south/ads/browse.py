"""The PLC's symbol table for the explore page: one level of the dotted symbol names, one page at a time.

ADS lists symbols in one piece only (``ADSIGRP_SYM_UPLOADINFO2`` gives the table's size, ``ADSIGRP_SYM_UPLOAD`` the
table): the client uploads it once per connection and keeps it; each page is cut from it here. A level is the
names' next dotted part under ``node`` (``MAIN`` under the root, ``MAIN.counter`` under ``MAIN``): a part that
only leads to longer names is a folder (``Object``), a symbol is a ``Variable`` whose node id is its name, the
address an item takes. The cursor is the offset of the page's first child.
"""

from __future__ import annotations

from typing import Any

from connectors.south.ads.datatypes import SymbolEntry

__all__ = ["browse_page", "parse_cursor"]


def parse_cursor(cursor: str | None) -> int:
    """The offset a cursor stands for (``ValueError`` naming ``cursor`` when it is not one of ours)."""
    if not cursor:
        return 0
    if not (cursor.isascii() and cursor.isdigit()):
        raise ValueError(f"cursor: {cursor!r} is not a cursor this connector gave")
    return int(cursor)


def browse_page(symbols: list[SymbolEntry], node: str | None, cursor: str | None, size: int) -> dict[str, Any]:
    """The page of ``node``'s children (the root's when ``node`` is empty) that starts at ``cursor``."""
    offset = parse_cursor(cursor)
    prefix = f"{node}." if node else ""
    # Next part -> (the symbol of that name, if any; whether longer names continue under it).
    level: dict[str, tuple[SymbolEntry | None, bool]] = {}
    for symbol in symbols:
        if not symbol.name.startswith(prefix) or len(symbol.name) == len(prefix):
            continue
        part, dot, _rest = symbol.name[len(prefix) :].partition(".")
        found, deeper = level.get(part, (None, False))
        level[part] = (found if dot else symbol, deeper or bool(dot))
    parts = sorted(level)
    children = []
    for part in parts[offset : offset + size]:
        named, deeper = level[part]
        # The display name becomes the item's name when the node is added: the part, without its type.
        children.append(
            {
                "nodeId": prefix + part,
                "browseName": part,
                "displayName": part,
                "nodeClass": "Variable" if named is not None else "Object",
                "hasChildren": deeper,
            }
        )
    more = offset + size < len(parts)
    return {"nodeId": node or "", "children": children, "cursor": str(offset + size) if more else None}
