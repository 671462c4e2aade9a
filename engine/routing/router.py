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


class _Ref(msgspec.Struct, frozen=True):
    """An ``{"id": ...}`` reference (an item or a transformer given as an object)."""

    id: str | int | None = None


class _RuleSource(msgspec.Struct, frozen=True, rename="camel"):
    type: str | None = None
    south_id: str | None = None
    group_id: str | None = None
    items: list[str | int | _Ref] | None = None
    data_source_id: str | None = None


class _RuleEntry(msgspec.Struct, frozen=True, rename="camel"):
    """A stored ``transformers[]`` entry: 3.9 ``transformerId`` or 3.8 ``transformer.id``, items as ids or objects."""

    id: str | None = None
    source: _RuleSource | None = None
    transformer_id: str | None = None
    transformer: _Ref | str | None = None
    options: dict[str, Any] | None = None


class Rule(msgspec.Struct, frozen=True, kw_only=True):
    """One routing rule of a North, decoded once from its ``transformers[]`` entry (``Rule.decode``)."""

    id: str | None = None
    source_type: str | None = None
    """``south``, ``oibus-api`` or ``oianalytics-setpoint``."""
    south_id: str | None = None
    group_id: str | None = None
    item_ids: frozenset[str] = frozenset()
    """The items it names (empty: the whole group, or the whole South)."""
    data_source_id: str | None = None
    transformer: str = ISO
    """The transformer id: ``iso``, ``ignore``, a standard or a custom transformer."""
    options: dict[str, Any] = msgspec.field(default_factory=dict)

    @classmethod
    def decode(cls, entry: Any) -> Rule:
        """The rule of a stored ``transformers[]`` entry; a field of an unexpected shape counts as absent."""
        raw = _tolerant(entry)
        source = raw.source or _RuleSource()
        ref = str(raw.transformer.id) if isinstance(raw.transformer, _Ref) and raw.transformer.id else None
        # Item ids arrive as strings, numbers or ``{"id": ...}`` objects (rules written by scripts).
        items = (item.id if isinstance(item, _Ref) else item for item in source.items or ())
        return cls(
            id=raw.id,
            source_type=source.type,
            south_id=source.south_id,
            group_id=source.group_id,
            item_ids=frozenset(str(item) for item in items if item is not None),
            data_source_id=source.data_source_id,
            transformer=raw.transformer_id or ref or ISO,
            options=dict(raw.options or {}),
        )


def _tolerant(entry: Any) -> _RuleEntry:
    try:
        return msgspec.convert(entry, _RuleEntry, strict=False)
    except msgspec.ValidationError:
        # An odd field (a transformer given as a number, say) must not hide the rest of the rule.
        fields = {name: entry.get(name) for name in ("id", "source", "transformerId", "options")}
        known = {name: value for name, value in fields.items() if value is not None}
        try:
            return msgspec.convert(known, _RuleEntry, strict=False)
        except msgspec.ValidationError:
            return _RuleEntry()


@dataclass(frozen=True, slots=True)
class Verdict:
    """A decision and the rule that made it (``None``: no rule matched, the content type decided)."""

    decision: Decision
    rule: Rule | None = None

    @property
    def transformer(self) -> str | None:
        """The transformer to apply before caching, or ``None`` to cache the content as it is."""
        if self.rule is None or self.decision is not Decision.SEND:
            return None
        found = self.rule.transformer
        return None if found in (ISO, IGNORE) else found

    @property
    def key(self) -> int | None:
        """Contents with the same key are cached the same way (as is, or through the same rule)."""
        return None if self.transformer is None else id(self.rule)


def transformer_id(entry: Mapping[str, Any]) -> str:
    """The transformer id of a ``transformers[]`` entry (3.9 ``transformerId`` or ``transformer.id``)."""
    return Rule.decode(entry).transformer


@dataclass(frozen=True, slots=True)
class NorthRoute:
    """The routing view of one enabled North."""

    id: str
    types: frozenset[str]
    transformers: tuple[Rule, ...]

    @classmethod
    def from_dto(cls, dto: Mapping[str, Any], types: Iterable[str]) -> NorthRoute:
        """Build from a North DTO and its manifest's content types (its rules decoded here, once)."""
        rules = tuple(Rule.decode(entry) for entry in dto.get("transformers") or ())
        return cls(id=dto["id"], types=frozenset(types), transformers=rules)

    def _default(self, content_type: str) -> Verdict:
        return Verdict(Decision.SEND if content_type in self.types else Decision.SKIP)

    @staticmethod
    def _apply(rule: Rule) -> Verdict:
        return Verdict(Decision.DROP if rule.transformer == IGNORE else Decision.SEND, rule)

    def decide_item(self, south_id: str, item_id: str | None, group_id: str | None, content_type: str) -> Verdict:
        """Decision for content of one item (``item_id`` None: content not tied to an item)."""
        group_match: Rule | None = None
        south_match: Rule | None = None
        for rule in self.transformers:
            if rule.source_type != "south" or rule.south_id != south_id:
                continue
            if rule.item_ids:
                if item_id is not None and item_id in rule.item_ids:
                    return self._apply(rule)
            elif rule.group_id:
                if group_match is None and group_id is not None and rule.group_id == group_id:
                    group_match = rule
            elif south_match is None:
                south_match = rule
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
        for rule in self.transformers:
            if rule.source_type == "oibus-api" and rule.data_source_id == data_source_id:
                return self._apply(rule)
        return self._default(content_type)

    def decide_setpoints(self) -> Verdict:
        """Decision for setpoints from OIAnalytics: the ``oianalytics-setpoint`` rule, else the content type."""
        for rule in self.transformers:
            if rule.source_type == "oianalytics-setpoint":
                return self._apply(rule)
        return self._default("setpoint")

    def names_api(self, data_source_id: str) -> bool:
        """Whether an ``oibus-api`` rule names ``data_source_id`` (to send or to ignore it)."""
        return any(
            rule.source_type == "oibus-api" and rule.data_source_id == data_source_id for rule in self.transformers
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
