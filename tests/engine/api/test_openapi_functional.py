"""``GET /api/openapi.json``: every route, the very schemas that validate requests, per-type connector settings."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from aiohttp import web
from config_fakes import (
    AUTH,
    MANIFESTS,
    Client,
    RecordingRuntime,
    api_client,
    client_fixture,  # noqa: F401
    runtime_fixture,  # noqa: F401
    store_fixture,  # noqa: F401
)
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.manifest import settings_schema
from engine.api import EngineInfo, create_app
from engine.api.auth import PUBLIC_ROUTES
from engine.api.content import routes as content_routes
from engine.api.openapi import _encoded, build_document, narrow_to_plain_forms, route_infos
from engine.api.openapi_operations import OPENAPI_PATH, OPERATIONS
from engine.api.served import extra_route_tables
from engine.config import ConfigStore
from engine.config.manifests import Kind
from engine.web import is_web_route
from engine.web import setup as setup_web

# What the engine serves: the API tables and the routes ``engine.cli`` adds.
EXTRA_ROUTES = extra_route_tables()


def full_app(store: ConfigStore) -> web.Application:
    # With the UI, as the engine serves it: its pages must stay out of the document.
    info = EngineInfo(data_directory=store.data_dir)
    return create_app(store, RecordingRuntime(), info, extra_routes=EXTRA_ROUTES, ui=setup_web)


@pytest.fixture(name="document")
def document_fixture(store: ConfigStore) -> dict[str, Any]:
    return build_document(route_infos(full_app(store)), MANIFESTS)


def walk(value: Any) -> Iterator[tuple[str, Any]]:
    """Every ``(key, value)`` pair of a JSON document, depth first."""
    if isinstance(value, dict):
        for key, nested in value.items():
            yield key, nested
            yield from walk(nested)
    elif isinstance(value, list):
        for nested in value:
            yield from walk(nested)


def component(document: dict[str, Any], ref: str) -> Any:
    return document["components"]["schemas"][ref.removeprefix("#/components/schemas/")]


def as_components(schema: dict[str, Any]) -> dict[str, Any]:
    """The ``$defs`` of a ``msgspec.json.schema`` output, with refs spelt as in the document."""
    text = json.dumps(schema["$defs"]).replace('"#/$defs/', '"#/components/schemas/')
    defs: dict[str, Any] = json.loads(text)
    return defs


async def test_served_authenticated_and_cached(client: Client) -> None:
    refused = await client.get(OPENAPI_PATH)
    assert refused.status == 401
    before = _encoded.cache_info().hits
    first = await client.get(OPENAPI_PATH, headers=AUTH)
    assert first.status == 200
    assert first.content_type == "application/json"
    document = await first.json()
    assert document["openapi"] == "3.1.0"
    assert OPENAPI_PATH in document["paths"]
    second = await client.get(OPENAPI_PATH, headers=AUTH)
    assert await second.read() == await first.read()
    assert _encoded.cache_info().hits > before


async def test_routes_added_to_the_app_are_listed(store: ConfigStore, runtime: RecordingRuntime) -> None:
    async with api_client(store, runtime, extra_routes=[content_routes]) as client:
        document = await (await client.get(OPENAPI_PATH, headers=AUTH)).json()
    assert "post" in document["paths"]["/api/content/content"]


def test_every_route_is_described(store: ConfigStore, document: dict[str, Any]) -> None:
    served = {
        (route.method, route.resource.canonical)
        for route in full_app(store).router.routes()
        if route.resource is not None and route.method != "HEAD" and not is_web_route(route)
    }
    assert all(path.startswith(("/api", "/metrics", "/sse", "/engine/", "/logs")) for _, path in served)
    listed = {(method.upper(), path) for path, methods in document["paths"].items() for method in methods}
    assert listed == served
    undescribed = [
        f"{method.upper()} {path}"
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
        if operation.get("x-oibus-undescribed")
    ]
    assert undescribed == [], "describe these routes in engine/api/openapi_operations.py OPERATIONS"
    # And nothing is described that the engine does not serve.
    assert set(OPERATIONS) == served


def test_document_is_consistent(document: dict[str, Any]) -> None:
    refs = [value for key, value in walk(document) if key == "$ref"]
    assert refs
    for ref in refs:
        component(document, ref)
    operation_ids = [op["operationId"] for methods in document["paths"].values() for op in methods.values()]
    assert len(operation_ids) == len(set(operation_ids))
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            names = re.findall(r"\{([^}]+)\}", path)
            assert [p["name"] for p in operation.get("parameters", ()) if p["in"] == "path"] == names
            public = method == "get" and path in PUBLIC_ROUTES
            assert (operation.get("security") == []) == public, f"{method} {path}"
            if path.startswith("/sse/"):
                assert {"tokenQuery": []} in operation["security"]
            assert "401" in operation["responses"] or public


def test_request_bodies_are_the_models_that_validate_them(document: dict[str, Any]) -> None:
    components = document["components"]["schemas"]
    checked = 0
    for (method, path), operation in OPERATIONS.items():
        body = operation.body
        if isinstance(body, type) and issubclass(body, msgspec.Struct):
            schema = document["paths"][path][method.lower()]["requestBody"]["content"]["application/json"]["schema"]
            assert schema == {"$ref": f"#/components/schemas/{body.__name__}"}
            # The model's own schema, with the fields whose check is a parse or a lookup narrowed to their
            # plain form (``narrow_to_plain_forms``): nothing else is written beside the model.
            expected = as_components(msgspec.json.schema(body))
            narrow_to_plain_forms(expected)
            for name, definition in expected.items():
                assert components[name] == definition, name
            checked += 1
    assert checked >= 15


def test_connector_settings_follow_each_manifest(document: dict[str, Any]) -> None:
    components = document["components"]["schemas"]
    pairs: tuple[tuple[Kind, str], ...] = (("south", "SouthCommand"), ("north", "NorthCommand"))
    for kind, command in pairs:
        manifests = MANIFESTS.types(kind)
        schema = document["paths"][f"/api/{kind}"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        mapping = schema["discriminator"]["mapping"]
        assert schema["discriminator"]["propertyName"] == "type"
        assert set(mapping) == {manifest.id for manifest in manifests}
        assert [option["$ref"] for option in schema["oneOf"]] == list(mapping.values())
        put = document["paths"][f"/api/{kind}/{{id}}"]["put"]["requestBody"]["content"]["application/json"]["schema"]
        assert put == schema
        for manifest in manifests:
            base, branch = component(document, mapping[manifest.id])["allOf"]
            assert base == {"$ref": f"#/components/schemas/{command}"}
            assert branch["properties"]["type"] == {"const": manifest.id}
            # The settings schema is the one the UI form is built from (the manifest's).
            settings_ref = branch["properties"]["settings"]["$ref"]
            served = settings_schema(manifest.settings)
            assert settings_ref == served["$ref"].replace("#/$defs/", "#/components/schemas/")
            for name, definition in as_components(served).items():
                assert components[name] == definition
            if manifest.item_settings is not None:
                items = branch["properties"]["items"]["items"]["allOf"]
                assert items[0] == {"$ref": "#/components/schemas/SouthItemCommand"}
                assert items[1]["properties"]["settings"]["$ref"].endswith(f"/{manifest.item_settings.__name__}")


def test_history_query_settings_follow_the_types_chosen(document: dict[str, Any]) -> None:
    path = document["paths"]["/api/history-queries"]["post"]
    base, *choices = path["requestBody"]["content"]["application/json"]["schema"]["allOf"]
    assert base == {"$ref": "#/components/schemas/HistoryQueryCommand"}
    expected = {
        "south": [manifest for manifest in MANIFESTS.types("south") if manifest.modes.history],
        "north": MANIFESTS.types("north"),
    }
    # A South that cannot read history is no choice at all (the store refuses it).
    assert "test-subscription" not in {manifest.id for manifest in expected["south"]}
    assert [choice["discriminator"]["propertyName"] for choice in choices] == ["southType", "northType"]
    for choice, (kind, manifests) in zip(choices, expected.items(), strict=True):
        mapping = choice["discriminator"]["mapping"]
        assert list(mapping) == [manifest.id for manifest in manifests]
        assert [option["$ref"] for option in choice["oneOf"]] == list(mapping.values())
        for manifest in manifests:
            branch = component(document, mapping[manifest.id])["properties"]
            assert branch[f"{kind}Type"] == {"const": manifest.id}
            assert branch[f"{kind}Settings"]["$ref"].endswith(f"/{manifest.settings.__name__}")
            if kind == "south" and manifest.item_settings is not None:
                items, null = branch["items"]["anyOf"]
                assert null == {"type": "null"}
                first, settings = items["items"]["allOf"]
                assert first == {"$ref": "#/components/schemas/HistoryItemCommand"}
                assert settings["properties"]["settings"]["$ref"].endswith(f"/{manifest.item_settings.__name__}")
            else:
                assert "items" not in branch
    # A replaced query keeps its stored types: its body cannot choose, so it stays the plain command.
    put = document["paths"]["/api/history-queries/{id}"]["put"]["requestBody"]["content"]["application/json"]
    assert put["schema"] == {"$ref": "#/components/schemas/HistoryQueryCommand"}


def test_a_history_query_body_is_checked_against_its_own_types(document: dict[str, Any]) -> None:
    # The validator schemathesis checks answers with (it comes with it).
    import jsonschema_rs

    body = document["paths"]["/api/history-queries"]["post"]["requestBody"]["content"]["application/json"]
    validator = jsonschema_rs.Draft202012Validator({**body["schema"], "components": document["components"]})
    valid = {
        "name": "Last year",
        "queryTimeRange": {"startTime": "2025-01-01T00:00:00Z", "endTime": "2026-01-01T00:00:00Z"},
        "southType": "test-south",
        "southSettings": {"host": "plc"},
        "northType": "test-north",
        "northSettings": {"outputFolder": "out"},
        "items": [{"name": "temperature", "settings": {"address": "40001"}}],
    }
    assert validator.is_valid(valid)
    crossed = {**valid, "southSettings": {"outputFolder": "out"}, "northSettings": {"host": "plc"}}
    assert not validator.is_valid(crossed)
    assert not validator.is_valid({**valid, "items": [{"name": "temperature", "settings": {"scale": 2}}]})
    assert not validator.is_valid({**valid, "southType": "test-subscription"})


def test_item_settings_name_every_south_type(document: dict[str, Any]) -> None:
    body = document["paths"]["/api/south/{id}/items"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    by_type = body["x-oibus-item-settings"]
    assert set(by_type) == {manifest.id for manifest in MANIFESTS.types("south") if manifest.item_settings}
    assert body["allOf"][1]["properties"]["settings"]["anyOf"] == list(by_type.values())


def test_without_manifests_connector_bodies_are_the_plain_command(store: ConfigStore) -> None:
    from engine.config import StaticManifests

    document = build_document(route_infos(full_app(store)), StaticManifests([]))
    schema = document["paths"]["/api/south"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/SouthCommand"}


def _patterns() -> list[str]:
    document = build_document([(method, path, "") for method, path in OPERATIONS], MANIFESTS)
    return sorted({value for key, value in walk(document) if key == "pattern" and isinstance(value, str)})


@pytest.mark.parametrize("pattern", _patterns())
def test_patterns_mean_the_same_to_msgspec_and_json_schema(pattern: str) -> None:
    """A value the UI (ECMA-262 regular expressions) refuses is refused by msgspec (Python's ``re``) too.

    In Python ``$`` also matches before a final newline.
    """

    @settings(max_examples=50, deadline=None, database=None)
    @given(st.from_regex(pattern, fullmatch=True))
    def agrees(text: str) -> None:
        assert re.search(pattern, text)
        assert not re.search(pattern, text + "\n")

    agrees()


def test_create_summaries_name_their_connector(document: dict[str, Any]) -> None:
    assert document["paths"]["/api/north"]["post"]["summary"].startswith("Create a North connector")
    assert "South" not in document["paths"]["/api/north"]["post"]["summary"]
    assert document["paths"]["/api/south"]["post"]["summary"].startswith("Create a South connector")
