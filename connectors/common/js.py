"""Values written as upstream (TypeScript) OIBus writes them: JavaScript's ``String(value)``."""

from __future__ import annotations

__all__ = ["js_string"]


def js_string(value: bool | int | float | str) -> str:
    """``String(value)`` of JavaScript: ``true``, ``3``, ``3.5``, ``NaN``, ``Infinity``, the text itself."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value:
            return "NaN"
        if value in (float("inf"), float("-inf")):
            return "Infinity" if value > 0 else "-Infinity"
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        return repr(value)
    return str(value)
