"""Routing decisions, as upstream v3.8: a North's ``transformers[]`` is its subscription table.

For South content the most specific rule wins (item, then group, then the whole South; the earliest
entry among equals); ``ignore`` drops, ``iso`` keeps the content as is; without a rule a North takes the
content when it can send that content type. API content goes to the Norths named by the client, or else
to the Norths with an ``oibus-api`` rule for its ``dataSourceId``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import msgspec

from engine.routing.transformers import IGNORE, ISO


class Decision(Enum):
    """What one North does with one content."""

    SEND = "send"
    """Cache it as it is."""
    DROP = "drop"
    """An explicit ``ignore`` rule: the operator does not want it here."""
    SKIP = "skip"
    """No rule and a content type this North cannot send: not a target."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """A decision and the rule that made it (``None``: no rule matched, the content type decided)."""

    decision: Decision
    rule: Mapping[str, Any] | None = None

    @property
    def transformer(self) -> str | None:
        """The transformer to apply before caching, or ``None`` to cache the content as it is."""
        if self.rule is None or self.decision is not Decision.SEND:
            return None
        found = transformer_id(self.rule)
        return None if found in (ISO, IGNORE) else found

    @property
    def key(self) -> int | None:
        """Contents with the same key are cached the same way (as is, or through the same rule)."""
        return None if self.transformer is None else id(self.rule)


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

    def _default(self, content_type: str) -> Verdict:
        return Verdict(Decision.SEND if content_type in self.types else Decision.SKIP)

    @staticmethod
    def _apply(entry: Mapping[str, Any]) -> Verdict:
        return Verdict(Decision.DROP if transformer_id(entry) == IGNORE else Decision.SEND, entry)

    def decide_item(self, south_id: str, item_id: str | None, group_id: str | None, content_type: str) -> Verdict:
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
    ) -> dict[str | None, Verdict]:
        """Decision per item of a South content (key ``None`` when the content names no item)."""
        ids = list(item_ids)
        if not ids:
            return {None: self.decide_item(south_id, None, None, content_type)}
        return {item: self.decide_item(south_id, item, groups.get(item), content_type) for item in ids}

    def decide_api(self, data_source_id: str, content_type: str) -> Verdict:
        """Decision for content posted to the ingestion API under ``data_source_id``."""
        for entry in self.transformers:
            source = entry.get("source") or {}
            if source.get("type") == "oibus-api" and source.get("dataSourceId") == data_source_id:
                return self._apply(entry)
        return self._default(content_type)

    def decide_setpoints(self) -> Verdict:
        """Decision for setpoints from OIAnalytics: the ``oianalytics-setpoint`` rule, else the content type."""
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


_VALUES = msgspec.json.Decoder(list[dict[str, Any]])
_encode = msgspec.json.Encoder().encode


def split(
    verdicts: Mapping[str | None, Verdict],
    content_type: str,
    payload: bytes | None,
    item_ids_by_name: Mapping[str, str] | None = None,
    fallback: Callable[[], Verdict] | None = None,
) -> list[tuple[Verdict, bytes | None, int | None]]:
    """The parts one North caches from one content: ``(verdict, payload, count)``, payload ``None`` = unchanged.

    When every item sent is cached the same way, the whole content is one part (items decided otherwise ride
    along: duplicates are allowed, loss is not). When items go through different rules, time-values are
    split by point (``pointId`` is the item name, as upstream); a value naming no known item follows
    ``fallback()`` (the South-level decision, only worked out when a batch is split; none: the value is dropped,
    as it belongs to no item sent).
    """
    sending = [verdict for verdict in verdicts.values() if verdict.decision is Decision.SEND]
    if not sending:
        return []
    if len({verdict.key for verdict in sending}) == 1 or content_type != "time-values" or payload is None:
        return [(sending[0], None, None)]
    groups: dict[int | None, tuple[Verdict, list[dict[str, Any]]]] = {}
    unknown = fallback() if fallback is not None else Verdict(Decision.SKIP)
    names = item_ids_by_name or {}
    for value in _VALUES.decode(payload):
        verdict = verdicts.get(names.get(str(value.get("pointId"))), unknown)
        if verdict.decision is Decision.SEND:
            groups.setdefault(verdict.key, (verdict, []))[1].append(value)
    return [(verdict, _encode(values), len(values)) for verdict, values in groups.values()]


def _item_id(item: Any) -> str | None:
    if isinstance(item, Mapping):
        value = item.get("id")
        return str(value) if value is not None else None
    return str(item)
