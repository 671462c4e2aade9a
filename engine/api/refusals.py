"""Remembering which refused names were already logged, so a sender retrying in a loop earns one log line."""

from __future__ import annotations

MAX_REMEMBERED = 1000


class RefusedNames:
    """The names already logged as refused since the external sources last changed (one line each)."""

    def __init__(self) -> None:
        self._references: frozenset[str] = frozenset()
        self._logged: set[str] = set()

    def first(self, name: str, references: frozenset[str]) -> bool:
        """``True`` the first time ``name`` is refused under this set of references."""
        if references is not self._references:
            self._references = references
            self._logged.clear()
        if name in self._logged or len(self._logged) >= MAX_REMEMBERED:
            return False
        self._logged.add(name)
        return True
