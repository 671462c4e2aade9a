"""History query items as CSV: the South items' format (``engine.config.items_csv``), without scan modes and groups."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from connectors.errors import SettingsError
from engine.config.crypto import blank, secret_shape
from engine.config.items_csv import check_delimiter, parse_row, read_rows, to_csv


def history_items_from_csv(
    item_settings: type[msgspec.Struct], text: str, delimiter: str | None
) -> list[dict[str, Any]]:
    """Item commands (``name``, ``enabled``, ``settings``) of a CSV; ``SettingsError`` names each bad cell by line."""
    rows = [parse_row(row, item_settings) for row in read_rows(text, check_delimiter(delimiter))]
    errors = {
        f"line {parsed.row.line}.{column}": problem for parsed in rows for column, problem in parsed.errors.items()
    }
    if errors:
        raise SettingsError(errors)
    return [
        {"name": parsed.command["name"], "enabled": parsed.command["enabled"], "settings": parsed.command["settings"]}
        for parsed in rows
    ]


def history_items_to_csv(
    items: Iterable[dict[str, Any]], item_settings: type[msgspec.Struct], delimiter: str | None
) -> str:
    """The CSV of items; secret settings are empty (secrets never leave the engine)."""
    shape = secret_shape(item_settings)
    keys = [field.encode_name for field in msgspec.structs.fields(item_settings)]
    shown = [{**item, "settings": blank(item.get("settings") or {}, shape)} for item in items]
    return to_csv(shown, keys, check_delimiter(delimiter))
