"""Routing decisions of one North (upstream v3.8 resolution: item, then group, then South; earliest wins)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.routing.router import Decision, NorthRoute, Verdict, transformer_id

SEND, DROP, SKIP = Decision.SEND, Decision.DROP, Decision.SKIP
TYPES = ("any", "time-values")


def south_rule(
    transformer: str | None,
    south_id: str = "s1",
    *,
    group_id: str | None = None,
    items: list[Any] | None = None,
) -> dict[str, Any]:
    """A rule as the store hands it to the engine (3.9 ``transformer: {id}``)."""
    rule: dict[str, Any] = {
        "id": f"rule-{transformer}",
        "source": {"type": "south", "southId": south_id, "groupId": group_id, "items": items or []},
        "options": {},
    }
    if transformer is not None:
        rule["transformer"] = {"id": transformer, "functionName": transformer}
    return rule


def api_rule(transformer: str, data_source_id: str) -> dict[str, Any]:
    return {
        "id": f"api-{data_source_id}",
        "source": {"type": "oibus-api", "dataSourceId": data_source_id},
        "transformer": {"id": transformer},
        "options": {},
    }


def decided(verdicts: dict[str | None, Verdict]) -> dict[str | None, Decision]:
    return {item: verdict.decision for item, verdict in verdicts.items()}


def route(*rules: dict[str, Any], types: tuple[str, ...] = TYPES) -> NorthRoute:
    return NorthRoute.from_dto({"id": "n1", "name": "north", "transformers": list(rules)}, types)


def test_from_dto_keeps_id_types_and_rules_in_order() -> None:
    rules = (south_rule("iso"), api_rule("ignore", "ds"))
    built = route(*rules)
    assert built.id == "n1"
    assert built.types == frozenset(TYPES)
    decoded = [
        (rule.id, rule.source_type, rule.south_id, rule.data_source_id, rule.transformer) for rule in built.transformers
    ]
    assert decoded == [("rule-iso", "south", "s1", None, "iso"), ("api-ds", "oibus-api", None, "ds", "ignore")]
    assert NorthRoute.from_dto({"id": "n2", "transformers": None}, ()).transformers == ()


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"transformerId": "ignore"}, "ignore"),
        ({"transformer": {"id": "ignore"}}, "ignore"),
        ({"transformerId": "iso", "transformer": {"id": "ignore"}}, "iso"),
        ({"transformer": "not a mapping"}, "iso"),
        ({}, "iso"),
    ],
)
def test_transformer_id_reads_both_shapes(entry: dict[str, Any], expected: str) -> None:
    assert transformer_id(entry) == expected


@pytest.mark.parametrize(
    ("content_type", "expected"), [("time-values", SEND), ("any", SEND), ("any-content", SKIP), ("setpoint", SKIP)]
)
def test_no_rule_sends_iff_the_type_is_supported(content_type: str, expected: Decision) -> None:
    assert route().decide_item("s1", "i1", None, content_type).decision is expected


def test_rules_of_another_south_do_not_apply() -> None:
    north = route(south_rule("ignore", "s2"), south_rule("ignore", "s2", items=["i1"]))
    assert north.decide_item("s1", "i1", None, "time-values").decision is SEND
    assert north.decide_item("s1", "i1", None, "any-content").decision is SKIP
    assert north.decide_item("s2", "i1", None, "time-values").decision is DROP


def test_ignore_drops_even_a_supported_type() -> None:
    assert route(south_rule("ignore")).decide_item("s1", "i1", None, "time-values").decision is DROP


@pytest.mark.parametrize("content_type", ["any-content", "setpoint", "time-values"])
def test_iso_sends_even_an_unsupported_type(content_type: str) -> None:
    assert route(south_rule("iso")).decide_item("s1", "i1", None, content_type).decision is SEND


def test_a_rule_without_transformer_is_iso() -> None:
    assert route(south_rule(None)).decide_item("s1", None, None, "any-content").decision is SEND


def test_group_beats_south_level_whatever_the_order() -> None:
    for rules in (
        (south_rule("ignore"), south_rule("iso", group_id="g1")),
        (south_rule("iso", group_id="g1"), south_rule("ignore")),
    ):
        north = route(*rules)
        assert north.decide_item("s1", "i1", "g1", "any-content").decision is SEND
        # Another group and no group at all fall back to the South-level rule.
        assert north.decide_item("s1", "i2", "g2", "time-values").decision is DROP
        assert north.decide_item("s1", "i3", None, "time-values").decision is DROP


def test_item_beats_group_and_south_level_whatever_the_order() -> None:
    rules = [south_rule("ignore"), south_rule("ignore", group_id="g1"), south_rule("iso", items=["i1"])]
    for ordered in (rules, rules[::-1]):
        north = route(*ordered)
        assert north.decide_item("s1", "i1", "g1", "any-content").decision is SEND
        assert north.decide_item("s1", "i2", "g1", "time-values").decision is DROP
        assert north.decide_item("s1", "i3", None, "time-values").decision is DROP


def test_an_item_rule_naming_other_items_does_not_apply() -> None:
    north = route(south_rule("ignore", items=["i2", {"id": "i3"}]))
    assert north.decide_item("s1", "i1", None, "time-values").decision is SEND
    assert north.decide_item("s1", "i2", None, "time-values").decision is DROP
    assert north.decide_item("s1", "i3", None, "time-values").decision is DROP
    # Content tied to no item is not matched by item rules.
    assert north.decide_item("s1", None, None, "time-values").decision is SEND


def test_item_rules_accept_ids_and_item_objects() -> None:
    north = route(south_rule("ignore", items=[{"id": "i1", "name": "first"}, "i2", 3]))
    assert north.decide_item("s1", "i1", None, "time-values").decision is DROP
    assert north.decide_item("s1", "i2", None, "time-values").decision is DROP
    assert north.decide_item("s1", "3", None, "time-values").decision is DROP
    assert north.decide_item("s1", "i4", None, "time-values").decision is SEND


@pytest.mark.parametrize(
    ("first", "second", "kwargs"),
    [
        ("iso", "ignore", {}),
        ("ignore", "iso", {}),
        ("iso", "ignore", {"group_id": "g1"}),
        ("ignore", "iso", {"group_id": "g1"}),
        ("iso", "ignore", {"items": ["i1"]}),
        ("ignore", "iso", {"items": ["i1"]}),
    ],
)
def test_earliest_rule_wins_among_equals(first: str, second: str, kwargs: dict[str, Any]) -> None:
    north = route(south_rule(first, **kwargs), south_rule(second, **kwargs))
    expected = DROP if first == "ignore" else SEND
    assert north.decide_item("s1", "i1", "g1", "time-values").decision is expected


def test_decide_south_answers_per_item() -> None:
    north = route(south_rule("ignore", group_id="g1"), south_rule("iso", items=["i2"]))
    decisions = decided(
        north.decide_south("s1", ["i1", "i2", "i3"], {"i1": "g1", "i2": "g1", "i3": None}, "any-content")
    )
    assert decisions == {"i1": DROP, "i2": SEND, "i3": SKIP}


def test_decide_south_without_items_decides_for_the_whole_content() -> None:
    assert decided(route(south_rule("ignore")).decide_south("s1", [], {}, "any")) == {None: DROP}
    assert decided(route().decide_south("s1", [], {}, "any")) == {None: SEND}
    assert decided(route().decide_south("s1", [], {}, "any-content")) == {None: SKIP}
    # Item and group rules never match content that names no item.
    north = route(south_rule("ignore", items=["i1"]), south_rule("ignore", group_id="g1"))
    assert decided(north.decide_south("s1", [], {}, "any")) == {None: SEND}


def test_api_rules_match_by_data_source_id() -> None:
    north = route(api_rule("iso", "ds-iso"), api_rule("ignore", "ds-ignore"), api_rule("ignore", "ds-iso"))
    assert north.decide_api("ds-iso", "any-content").decision is SEND
    assert north.decide_api("ds-ignore", "any").decision is DROP
    assert north.decide_api("other", "any").decision is SEND
    assert north.decide_api("other", "any-content").decision is SKIP


def test_api_and_south_rules_do_not_mix() -> None:
    north = route(api_rule("ignore", "s1"), south_rule("ignore", "ds"))
    assert north.decide_item("s1", "i1", None, "time-values").decision is SEND
    assert north.decide_api("ds", "time-values").decision is SEND
    assert north.decide_api("s1", "time-values").decision is DROP


def test_names_api_tells_whether_a_rule_names_the_data_source() -> None:
    north = route(api_rule("iso", "ds-iso"), api_rule("ignore", "ds-ignore"), south_rule("iso", "ds-south"))
    assert north.names_api("ds-iso")
    assert north.names_api("ds-ignore")
    assert not north.names_api("ds-south")
    assert not north.names_api("unknown")
    assert not route().names_api("ds-iso")


def test_rules_without_source_are_ignored() -> None:
    north = route({"id": "broken", "transformer": {"id": "ignore"}})
    assert north.decide_item("s1", "i1", None, "time-values").decision is SEND
    assert north.decide_api("ds", "time-values").decision is SEND
    assert not north.names_api("ds")
