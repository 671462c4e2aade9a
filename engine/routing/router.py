"""Routing decisions, as upstream v3.8: a North's ``transformers[]`` is its subscription table.

For South content the most specific rule wins (item, then group, then the whole South; the earliest
entry among equals); ``ignore`` drops, ``iso`` keeps the content as is; without a rule a North takes the
content when it can send that content type. API content goes to the Norths named by the client, or else
to the Norths with an ``oibus-api`` rule for its ``dataSourceId``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

IGNORE = "ignore"
ISO = "iso"


class Decision(Enum):
    """What one North does with one content."""

    SEND = "send"
    """Cache it as it is."""
    DROP = "drop"
    """An explicit ``ignore`` rule: the operator does not want it here."""
    SKIP = "skip"
    """No rule and a content type this North cannot send: not a target."""


def transformer_id(entry: Mapping[str, Any]) -> str:
    """The transformer id of a ``transformers[]`` entry (3.9 ``transformerId`` or ``transformer.id``)."""
    found = entry.get("transformerId")
    if not found:
        transformer = entry.get("transformer")
        found = transformer.get("id") if isinstance(transformer, Mapping) else None
    return str(found or ISO)


@dataclass(frozen=True, slots=True)
class NorthRoute:
    """The routing view of one enabled North."""

    id: str
    types: frozenset[str]
    transformers: tuple[Mapping[str, Any], ...]

    @classmethod
    def from_dto(cls, dto: Mapping[str, Any], types: Iterable[str]) -> NorthRoute:
        """Build from a North DTO and its manifest's content types."""
        return cls(id=dto["id"], types=frozenset(types), transformers=tuple(dto.get("transformers") or ()))

    def _default(self, content_type: str) -> Decision:
        return Decision.SEND if content_type in self.types else Decision.SKIP

    @staticmethod
    def _apply(entry: Mapping[str, Any]) -> Decision:
        return Decision.DROP if transformer_id(entry) == IGNORE else Decision.SEND

    def decide_item(self, south_id: str, item_id: str | None, group_id: str | None, content_type: str) -> Decision:
        """Decision for content of one item (``item_id`` None: content not tied to an item)."""
        group_match: Mapping[str, Any] | None = None
        south_match: Mapping[str, Any] | None = None
        for entry in self.transformers:
            source = entry.get("source") or {}
            if source.get("type") != "south" or source.get("southId") != south_id:
                continue
            items = source.get("items") or []
            if items:
                if item_id is not None and any(_item_id(item) == item_id for item in items):
                    return self._apply(entry)
            elif source.get("groupId"):
                if group_match is None and group_id is not None and source.get("groupId") == group_id:
                    group_match = entry
            elif south_match is None:
                south_match = entry
        chosen = group_match or south_match
        return self._apply(chosen) if chosen is not None else self._default(content_type)

    def decide_south(
        self, south_id: str, item_ids: Iterable[str], groups: Mapping[str, str | None], content_type: str
    ) -> dict[str | None, Decision]:
        """Decision per item of a South content (key ``None`` when the content names no item)."""
        ids = list(item_ids)
        if not ids:
            return {None: self.decide_item(south_id, None, None, content_type)}
        return {item: self.decide_item(south_id, item, groups.get(item), content_type) for item in ids}

    def decide_api(self, data_source_id: str, content_type: str) -> Decision:
        """Decision for content posted to the ingestion API under ``data_source_id``."""
        for entry in self.transformers:
            source = entry.get("source") or {}
            if source.get("type") == "oibus-api" and source.get("dataSourceId") == data_source_id:
                return self._apply(entry)
        return self._default(content_type)

    def decide_setpoint(self) -> Decision:
        """Decision for setpoints from OIAnalytics: its ``oianalytics-setpoint`` rule, else its content types."""
        for entry in self.transformers:
            if (entry.get("source") or {}).get("type") == "oianalytics-setpoint":
                return self._apply(entry)
        return self._default("setpoint")

    def names_api(self, data_source_id: str) -> bool:
        """Whether an ``oibus-api`` rule names ``data_source_id`` (to send or to ignore it)."""
        return any(
            (entry.get("source") or {}).get("type") == "oibus-api"
            and (entry.get("source") or {}).get("dataSourceId") == data_source_id
            for entry in self.transformers
        )


def _item_id(item: Any) -> str | None:
    if isinstance(item, Mapping):
        value = item.get("id")
        return str(value) if value is not None else None
    return str(item)
