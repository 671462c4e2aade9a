"""The transformers of a history query's North (``northTransformers``): checked, stored, shown.

Stored as JSON in ``history_queries.north_transformers``: ``[{id, transformerId, options, items: [item id]}]``.
An item is named by id or, for items created in the same body, by name; a rule naming no item applies to
every item. The engine routes the query's South content through them as through a North's rules
(``engine.history_query.runs.north_rules``).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from engine.config.base import from_json, random_id, to_json
from engine.config.custom_transformers import custom_transformer_dto
from engine.config.errors import NotFoundError
from engine.config.history_models import HistoryTransformerCommand, HistoryTransformerDTO
from engine.config.models import STANDARD_TRANSFORMERS, ItemRef

__all__ = ["check_north_transformers", "north_transformer_dtos"]


def check_north_transformers(
    db: sqlite3.Connection,
    commands: list[HistoryTransformerCommand],
    items: list[dict[str, Any]],
    errors: dict[str, str],
) -> str:
    """The JSON to store for ``commands`` over the query's ``items`` (``{id, name}``); problems go to ``errors``."""
    by_id = {str(item["id"]): str(item["id"]) for item in items}
    by_name = {str(item["name"]): str(item["id"]) for item in items}
    stored: list[dict[str, Any]] = []
    for index, command in enumerate(commands):
        path = f"northTransformers[{index}]"
        transformer_id = command.transformer_id or str((command.transformer or {}).get("id") or "")
        if not transformer_id:
            errors[f"{path}.transformerId"] = "required"
        elif transformer_id not in STANDARD_TRANSFORMERS and not _custom_exists(db, transformer_id):
            errors[f"{path}.transformerId"] = f"unknown transformer '{transformer_id}'"
        ids: list[str] = []
        for position, selector in enumerate(command.items):
            found = by_id.get(selector.id or "") or by_name.get(selector.name or "")
            if found is None:
                errors[f"{path}.items[{position}]"] = f"no item {selector.id or selector.name!r} in this query"
            elif found not in ids:
                ids.append(found)
        rule = {"id": command.id or random_id(), "transformerId": transformer_id, "options": command.options}
        stored.append({**rule, "items": ids})
    return to_json(stored)


def _custom_exists(db: sqlite3.Connection, transformer_id: str) -> bool:
    return db.execute("SELECT 1 FROM custom_transformers WHERE id = ?", (transformer_id,)).fetchone() is not None


def north_transformer_dtos(
    db: sqlite3.Connection, stored: str, items: dict[str, dict[str, Any]]
) -> list[HistoryTransformerDTO]:
    """The stored rules as DTOs; an item deleted since is left out of its rule."""
    dtos: list[HistoryTransformerDTO] = []
    for rule in from_json(stored) or []:
        transformer_id = rule["transformerId"]
        try:
            transformer: Any = STANDARD_TRANSFORMERS.get(transformer_id) or custom_transformer_dto(db, transformer_id)
        except NotFoundError:
            transformer = {"id": transformer_id}
        refs = [
            ItemRef(id=item_id, name=items[item_id]["name"], enabled=items[item_id]["enabled"])
            for item_id in rule["items"]
            if item_id in items
        ]
        dtos.append(HistoryTransformerDTO(id=rule["id"], transformer=transformer, options=rule["options"], items=refs))
    return dtos
