"""Names and free-text fields have length limits on every create and update route, refused naming the field.

A 1 MB connector name was accepted, then copied into every log line (issue 18). Each case sends the field
one character past its limit (400 naming the field, the value not echoed back) and, on creation, exactly
at its limit (accepted: the limit is the one stated, not a smaller one). One real engine with its real
manifests serves every route, history queries included.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from engine_process import EngineProcess

from engine.config.models import CERTIFICATE_FIELD_MAX_LENGTHS, NAME_MAX_LENGTH, TEXT_MAX_LENGTH

_counter = itertools.count()


def unique(prefix: str) -> str:
    """A name no other case of the module uses (the engine is shared)."""
    return f"{prefix}-{next(_counter)}"


def south(engine: EngineProcess) -> dict[str, Any]:
    return {
        "name": unique("south"),
        "type": "sqlite",
        "description": "",
        "enabled": False,
        "settings": {"databasePath": "limits.db"},
        "items": [],
    }


def scan_mode_id(engine: EngineProcess) -> str:
    modes = engine.ok("GET", "/api/scan-modes")
    return str(modes[0]["id"])


def north(engine: EngineProcess) -> dict[str, Any]:
    return {
        "name": unique("north"),
        "type": "console",
        "description": "",
        "enabled": False,
        "settings": {},
        "caching": {"trigger": {"scanModeId": scan_mode_id(engine)}},
        "transformers": [],
    }


def south_item(engine: EngineProcess) -> dict[str, Any]:
    return {
        "name": unique("item"),
        "enabled": False,
        "settings": {"query": "SELECT 1"},
        "scanModeId": scan_mode_id(engine),
    }


def history(engine: EngineProcess) -> dict[str, Any]:
    return {
        "name": unique("history"),
        "description": "",
        "queryTimeRange": {"startTime": "2025-01-01T00:00:00Z", "endTime": "2025-01-02T00:00:00Z"},
        "southType": "sqlite",
        "southSettings": {"databasePath": "limits.db"},
        "northType": "console",
        "northSettings": {},
        "items": [],
    }


def history_item(engine: EngineProcess) -> dict[str, Any]:
    return {"name": unique("item"), "enabled": True, "settings": {"query": "SELECT 1"}}


def scan_mode(engine: EngineProcess) -> dict[str, Any]:
    return {"name": unique("mode"), "description": "", "cron": "0 * * * * *"}


def ip_filter(engine: EngineProcess) -> dict[str, Any]:
    return {"address": f"10.0.0.{next(_counter) % 250}", "description": ""}


def certificate(engine: EngineProcess) -> dict[str, Any]:
    return {"name": unique("cert"), "description": "", "options": {"commonName": "plc", "countryName": "FR"}}


def user(engine: EngineProcess) -> dict[str, Any]:
    return {
        "login": unique("user"),
        "firstName": "Ada",
        "lastName": "Lovelace",
        "email": "ada@example.com",
        "language": "en",
        "timezone": "Europe/Paris",
        "password": "op-pw",
    }


def transformer(engine: EngineProcess) -> dict[str, Any]:
    code = "function transform(content) { return { output: content }; }\nmodule.exports = { transform };\n"
    return {
        "type": "custom",
        "name": unique("transformer"),
        "description": "",
        "inputType": "any",
        "outputType": "any",
        "customCode": code,
        "language": "javascript",
    }


def external_source(engine: EngineProcess) -> dict[str, Any]:
    return {"reference": unique("remote"), "description": ""}


Body = Callable[[EngineProcess], dict[str, Any]]


@dataclass(frozen=True)
class Route:
    """A create route, the update route of what it creates, and the routes' parent (created first, if any)."""

    collection: str
    body: Body
    parent: tuple[str, Body] | None = None
    """``(collection, body)`` of the thing whose sub-collection this is: ``{parent}`` in ``collection``."""


ROUTES = {
    "south": Route("/api/south", south),
    "north": Route("/api/north", north),
    "south item": Route("/api/south/{parent}/items", south_item, ("/api/south", south)),
    "scan mode": Route("/api/scan-modes", scan_mode),
    "history query": Route("/api/history-queries", history),
    "history item": Route("/api/history-queries/{parent}/items", history_item, ("/api/history-queries", history)),
    "IP filter": Route("/api/ip-filters", ip_filter),
    "certificate": Route("/api/certificates", certificate),
    "user": Route("/api/users", user),
    "transformer": Route("/api/transformers", transformer),
    "external source": Route("/api/external-sources", external_source),
}

# (route, field path, limit). A dotted path is a nested field.
_LIMITS = [
    *((route, "name", NAME_MAX_LENGTH) for route in ROUTES if route not in ("IP filter", "user", "external source")),
    *(
        (route, "description", TEXT_MAX_LENGTH)
        for route in ROUTES
        if route not in ("south item", "history item", "user")
    ),
    ("IP filter", "address", 100),
    ("external source", "reference", NAME_MAX_LENGTH),
    ("user", "login", 100),
    ("user", "firstName", NAME_MAX_LENGTH),
    ("user", "lastName", NAME_MAX_LENGTH),
    ("user", "email", 254),
    *(("certificate", f"options.{field}", limit) for field, limit in CERTIFICATE_FIELD_MAX_LENGTHS.items()),
]


def filled(field: str, length: int) -> str:
    """A value of exactly ``length`` characters that the field's other checks accept."""
    if field == "address":
        return ("1" * length)[:length]
    if field == "email":
        domain = "@example.com"
        return "a" * (length - len(domain)) + domain
    # Unique among the module's cases even when cut to the length (the names are unique per collection).
    return f"{next(_counter)}-".rjust(length, "x")[-length:]


def with_field(body: dict[str, Any], field: str, value: str) -> dict[str, Any]:
    head, _, rest = field.partition(".")
    if rest:
        return {**body, head: with_field(body[head], rest, value)}
    return {**body, head: value}


@pytest.fixture(name="engine", scope="module")
def engine_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProcess]:
    engine = EngineProcess(Path(tmp_path_factory.mktemp("limits")) / "data", log_level="warn").start()
    try:
        yield engine
    finally:
        engine.stop()


def collection_of(engine: EngineProcess, route: Route) -> str:
    if route.parent is None:
        return route.collection
    parent_collection, parent_body = route.parent
    parent = engine.ok("POST", parent_collection, parent_body(engine))
    return route.collection.format(parent=parent["id"])


def assert_refused(status: int, answer: Any, field: str, value: str) -> None:
    assert status == 400, answer
    assert field in answer["errors"], answer
    assert value not in repr(answer), "the refusal must not echo the value back"


@pytest.mark.parametrize(("route", "field", "limit"), _LIMITS, ids=[f"{r}-{f}" for r, f, _ in _LIMITS])
def test_create_refuses_a_field_past_its_limit_and_takes_one_at_it(
    engine: EngineProcess, route: str, field: str, limit: int
) -> None:
    spec = ROUTES[route]
    collection = collection_of(engine, spec)
    too_long = filled(field, limit + 1)
    status, answer = engine.request("POST", collection, with_field(spec.body(engine), field, too_long))
    assert_refused(status, answer, field, too_long)
    status, answer = engine.request("POST", collection, with_field(spec.body(engine), field, filled(field, limit)))
    assert status in (200, 201), answer


@pytest.mark.parametrize(("route", "field", "limit"), _LIMITS, ids=[f"{r}-{f}" for r, f, _ in _LIMITS])
def test_update_refuses_a_field_past_its_limit(engine: EngineProcess, route: str, field: str, limit: int) -> None:
    spec = ROUTES[route]
    collection = collection_of(engine, spec)
    body = spec.body(engine)
    created = engine.ok("POST", collection, body)
    if field.startswith("options."):
        # Options make a new certificate only when it is regenerated.
        body = {**body, "regenerateCertificate": True}
    if route == "user":
        body = {key: value for key, value in body.items() if key != "password"}
    too_long = filled(field, limit + 1)
    status, answer = engine.request("PUT", f"{collection}/{created['id']}", with_field(body, field, too_long))
    assert_refused(status, answer, field, too_long)


def test_the_engine_name_has_a_limit(engine: EngineProcess) -> None:
    too_long = filled("name", NAME_MAX_LENGTH + 1)
    status, answer = engine.request("PUT", "/api/engine/name", {"name": too_long})
    assert_refused(status, answer, "name", too_long)
    status, answer = engine.request("PUT", "/api/engine", {"general": {"name": too_long}})
    assert_refused(status, answer, "general.name", too_long)
    assert engine.ok("GET", "/api/engine")["general"]["name"] != too_long
