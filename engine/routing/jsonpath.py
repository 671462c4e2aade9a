"""The JSONPath subset the standard transformers read: `$`, `.name`, `["name"]`, `[n]`, `[*]`, `.*`, `..name`.

That covers what upstream's manifests and examples use (``$[*]``, ``$.data.values[*]``, ``$.name``); a
filter or a slice is refused when the rule is saved, naming the path.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_STEP = re.compile(
    r"\.\.(?P<deep>[A-Za-z_][\w-]*|\*)"
    r"|\.(?P<name>[A-Za-z_$][\w$-]*|\*)"
    r"|\[\s*(?:'(?P<sq>[^']*)'|\"(?P<dq>[^\"]*)\"|(?P<index>-?\d+)|(?P<star>\*))\s*\]"
)


@dataclass(frozen=True, slots=True)
class _Step:
    key: str | int | None
    """A member name, an index, or ``None`` for every child."""
    deep: bool = False


@dataclass(frozen=True, slots=True)
class JsonPath:
    """A compiled path; :meth:`find` returns every match, in document order."""

    text: str
    steps: tuple[_Step, ...]

    def find(self, document: Any) -> list[Any]:
        """Every value the path selects in ``document``."""
        current = [document]
        for step in self.steps:
            current = [found for node in current for found in _apply(step, node)]
        return current


def _children(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        yield from node.values()
    elif isinstance(node, list):
        yield from node


def _select(key: str | int | None, node: Any) -> Iterator[Any]:
    if key is None:
        yield from _children(node)
    elif isinstance(key, int):
        if isinstance(node, list) and -len(node) <= key < len(node):
            yield node[key]
    elif isinstance(node, dict) and key in node:
        yield node[key]


def _descendants(node: Any) -> Iterator[Any]:
    yield node
    for child in _children(node):
        yield from _descendants(child)


def _apply(step: _Step, node: Any) -> Iterator[Any]:
    if not step.deep:
        yield from _select(step.key, node)
        return
    for descendant in _descendants(node):
        yield from _select(step.key, descendant)


@functools.cache
def compile_path(text: str) -> JsonPath:
    """Compile ``text``; ``ValueError`` says where it leaves the supported subset."""
    stripped = text.strip()
    if not stripped.startswith("$"):
        raise ValueError(f"JSONPath {text!r} must start with '$'")
    steps: list[_Step] = []
    position = 1
    while position < len(stripped):
        match = _STEP.match(stripped, position)
        if match is None:
            raise ValueError(f"JSONPath {text!r}: unsupported syntax at {stripped[position:]!r}")
        groups = match.groupdict()
        if groups["deep"] is not None:
            steps.append(_Step(None if groups["deep"] == "*" else groups["deep"], deep=True))
        elif groups["name"] is not None:
            steps.append(_Step(None if groups["name"] == "*" else groups["name"]))
        elif groups["index"] is not None:
            steps.append(_Step(int(groups["index"])))
        elif groups["star"] is not None:
            steps.append(_Step(None))
        else:
            steps.append(_Step(groups["sq"] if groups["sq"] is not None else groups["dq"]))
        position = match.end()
    return JsonPath(text=text, steps=tuple(steps))
