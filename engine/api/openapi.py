"""The OpenAPI 3.1 document of the REST API, served at ``GET /api/openapi.json``.

It is generated from what validates requests (ARCHITECTURE §4): bodies and answers are the msgspec models
the store and the routes convert with (``engine.config.models``, and the few structs a route module checks
itself), turned into JSON Schema by ``msgspec.json.schema_components``. Connector ``settings`` and item
``settings`` are the settings structs of the manifests the store validates them against: a connector body
is ``oneOf`` one branch per type (``<Model>.<type>`` under ``components``), chosen by ``type``
(``discriminator``). An item body does not carry its South's type: its ``settings`` are ``anyOf`` the item
settings of every South type, and ``x-oibus-item-settings`` maps each type to its schema.

``engine.api.openapi_operations.OPERATIONS`` says what every route reads and answers. The document lists
every route the application serves under ``/api``, ``/metrics`` and ``/sse``, found by walking the router
(routes added through ``extra_routes`` included); a route ``OPERATIONS`` does not know is still listed, from
its docstring, and marked ``x-oibus-undescribed`` (a test keeps there being none).

Built once per route table and manifest source, in a thread, then served from memory. Authenticated like
the rest of ``/api``: the connector types installed are nobody's business before logging in.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Iterable
from typing import Any, get_origin

import msgspec
from aiohttp import web

from connectors.manifest import ConnectorManifest
from engine.api.auth import LOGIN_ROUTE, PROTECTED_PREFIXES, PROTECTED_WRITE_PREFIXES, PUBLIC_ROUTES, under
from engine.api.keys import STORE, UI_ROUTES
from engine.api.openapi_operations import (
    OPENAPI_PATH,
    OPERATIONS,
    AuthRefusal,
    ErrorMessage,
    HistoryTypes,
    ItemSettings,
    Operation,
    PerType,
    SettingsOf,
    ValidationErrors,
    object_schema,
)
from engine.api.util import offload
from engine.config.manifests import Kind, ManifestSource, StaticManifests
from engine.config.users import time_zones
from engine.oianalytics.models import HOST_SCHEMA_PATTERN
from engine.version import engine_version

_REF = "#/components/schemas/{name}"
_JSON = "application/json"
_STRING: dict[str, Any] = {"type": "string"}

routes = web.RouteTableDef()

RouteInfo = tuple[str, str, str]
"""What the document needs of a route: method, canonical path, handler docstring."""

_PATH_PARAM = re.compile(r"\{([^}/:]+)")
_OPERATION_ID = re.compile(r"[^A-Za-z0-9]+")
_SUCCESS = {200: "OK", 201: "Created", 204: "Done (no content)"}
_ERRORS = {
    404: "Not found.",
    409: "The connector is not running (this runs in its worker).",
    500: "Not stored: send again (the answer v2 senders retry on).",
    503: "Not done now: send again (`Retry-After`).",
    507: "No space left on the data folder's disk: nothing was stored, send again later (`Retry-After`).",
}
_SECURITY: list[dict[str, list[str]]] = [{"basicAuth": []}, {"bearerAuth": []}]
_SECURITY_SCHEMES = {
    "basicAuth": {"type": "http", "scheme": "basic"},
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": f"A token from `POST {LOGIN_ROUTE}`.",
    },
    "tokenQuery": {"type": "apiKey", "in": "query", "name": "token", "description": "`/sse` routes only."},
}


def _is_model(value: Any) -> bool:
    """Whether ``value`` is a type msgspec describes: a class, or a generic alias such as ``list[str]``."""
    return isinstance(value, type) or get_origin(value) is not None


def _models(value: Any, found: list[Any]) -> None:
    """Add to ``found`` every model ``value`` names (through markers and literal schemas)."""
    if isinstance(value, PerType | HistoryTypes):
        found.extend(model for model in (value.model, value.item) if model is not None)
    elif isinstance(value, ItemSettings):
        found.append(value.model)
    elif isinstance(value, dict):
        for nested in value.values():
            _models(nested, found)
    elif isinstance(value, list | tuple):
        for nested in value:
            _models(nested, found)
    elif _is_model(value):
        found.append(value)


class _Schemas:
    """The components: every model once, and the per-type branches of connector bodies as they are used."""

    def __init__(self, models: Iterable[Any], manifests: ManifestSource) -> None:
        self._souths = manifests.types("south")
        self._norths = manifests.types("north")
        settings = [manifest.settings for manifest in (*self._souths, *self._norths)]
        settings += [manifest.item_settings for manifest in self._souths if manifest.item_settings is not None]
        # One call for everything, so that two structs of the same name get distinct component names.
        every = list(dict.fromkeys([*models, *settings, ErrorMessage, ValidationErrors, AuthRefusal]))
        found, components = msgspec.json.schema_components(every, ref_template=_REF)
        self.components: dict[str, Any] = dict(components)
        self._by_model: dict[Any, dict[str, Any]] = dict(zip(every, found, strict=True))
        narrow_to_plain_forms(self.components)

    def of(self, value: Any) -> Any:
        """The JSON Schema of a model, a marker or a literal schema (whose nested models are resolved)."""
        if isinstance(value, PerType):
            return self._per_type(value)
        if isinstance(value, HistoryTypes):
            return self._history(value)
        if isinstance(value, ItemSettings):
            return self._item(value)
        if isinstance(value, SettingsOf):
            return self._settings_of(value.kind)
        if isinstance(value, dict):
            return {key: self.of(nested) for key, nested in value.items()}
        if isinstance(value, list):
            return [self.of(nested) for nested in value]
        if _is_model(value):
            return self._by_model[value]
        return value

    def _per_type(self, spec: PerType) -> dict[str, Any]:
        base = self._by_model[spec.model]
        name = base["$ref"].rsplit("/", 1)[-1]
        mapping: dict[str, str] = {}
        for manifest in self._souths if spec.kind == "south" else self._norths:
            branch: dict[str, Any] = {"type": {"const": manifest.id}, "settings": self._by_model[manifest.settings]}
            if spec.item is not None:
                branch["items"] = (
                    {"type": "array", "maxItems": 0, "description": "This type has no items."}
                    if manifest.item_settings is None
                    else {"type": "array", "items": self._with_settings(spec.item, manifest.item_settings)}
                )
            component = f"{name}.{manifest.id}"
            self.components.setdefault(
                component, {"title": f"{name} ({manifest.name})", "allOf": [base, object_schema(branch, required=())]}
            )
            mapping[manifest.id] = _REF.format(name=component)
        if not mapping:
            return base
        return {
            "oneOf": [{"$ref": ref} for ref in mapping.values()],
            "discriminator": {"propertyName": "type", "mapping": mapping},
        }

    def _history(self, spec: HistoryTypes) -> dict[str, Any]:
        # Two independent choices, each its own ``oneOf`` chosen by its own field: one branch per South type
        # that reads history (``southSettings`` and items' ``settings``) and one per North type (``northSettings``),
        # rather than a branch per pair.
        base = self._by_model[spec.model]
        name = base["$ref"].rsplit("/", 1)[-1]
        choices: list[dict[str, Any]] = []
        for kind, manifests in (
            ("south", [manifest for manifest in self._souths if manifest.modes.history]),
            ("north", self._norths),
        ):
            mapping: dict[str, str] = {}
            for manifest in manifests:
                branch: dict[str, Any] = {
                    f"{kind}Type": {"const": manifest.id},
                    f"{kind}Settings": self._by_model[manifest.settings],
                }
                if kind == "south" and manifest.item_settings is not None:
                    items = {"type": "array", "items": self._with_settings(spec.item, manifest.item_settings)}
                    branch["items"] = {"anyOf": [items, {"type": "null"}]}
                component = f"{name}.{kind}.{manifest.id}"
                self.components.setdefault(
                    component, {"title": f"{name} ({manifest.name})", **object_schema(branch, required=())}
                )
                mapping[manifest.id] = _REF.format(name=component)
            if mapping:
                choices.append(
                    {
                        "oneOf": [{"$ref": ref} for ref in mapping.values()],
                        "discriminator": {"propertyName": f"{kind}Type", "mapping": mapping},
                    }
                )
        return {"allOf": [base, *choices]} if choices else base

    def _with_settings(self, model: Any, settings: Any) -> dict[str, Any]:
        return {"allOf": [self._by_model[model], object_schema({"settings": self._by_model[settings]}, required=())]}

    def _settings_of(self, kind: Kind) -> dict[str, Any]:
        by_type = {
            manifest.id: self._by_model[manifest.settings]
            for manifest in (self._souths if kind == "south" else self._norths)
        }
        if not by_type:
            return {"type": "object"}
        return {"anyOf": list(by_type.values()), "x-oibus-settings": by_type}

    def _item(self, spec: ItemSettings) -> dict[str, Any]:
        options = {
            manifest.id: self._by_model[manifest.item_settings]
            for manifest in self._souths
            if manifest.item_settings is not None
        }
        if not options:
            return self._by_model[spec.model]
        return {
            "allOf": [
                self._by_model[spec.model],
                object_schema({"settings": {"anyOf": list(options.values())}}, required=()),
            ],
            "description": "`settings` follow the item settings of the South's type (`x-oibus-item-settings`).",
            "x-oibus-item-settings": options,
        }


def _when(flag: str, then: dict[str, Any]) -> dict[str, Any]:
    return {"if": {"properties": {flag: {"const": True}}, "required": [flag]}, "then": then}


def _plain_forms() -> dict[tuple[str, str], dict[str, Any]]:
    """Fields whose validation is a parse or a lookup: the form the document states instead, all of it valid."""
    zones = {"enum": sorted(time_zones())} if time_zones() else {}
    url = {"type": "string", "pattern": HOST_SCHEMA_PATTERN}
    token = {"type": "string", "pattern": r"^[A-Za-z0-9-]{1,64}$(?!\n)"}
    return {
        ("UserCommand", "timezone"): zones,
        ("UserCreateCommand", "timezone"): zones,
        ("RegistrationSettings", "host"): url,
        # Fields one flag makes required (the repository's cross-field checks).
        ("RegistrationSettings", ""): {
            "allOf": [
                _when("useProxy", {"required": ["proxyUrl"], "properties": {"proxyUrl": url}}),
                _when(
                    "useApiGateway",
                    {"required": ["apiGatewayHeaderKey"], "properties": {"apiGatewayHeaderKey": token}},
                ),
            ]
        },
    }


def narrow_to_plain_forms(components: dict[str, Any]) -> None:
    """Narrow the fields ``_plain_forms`` names, in place."""
    # A request generated from the document must be accepted: where the struct's schema says less than the
    # check behind it (a time zone is looked up, a URL is parsed, a flag requires a field), the document
    # narrows the field (or, for "", the whole object) to what passes.
    for (component, field), narrowed in _plain_forms().items():
        schema = components.get(component)
        if schema is None:
            continue
        properties = schema.get("properties", {})
        if not field:
            schema.update(narrowed)
        elif field in properties:
            properties[field] = {**properties[field], **narrowed}


def _served(method: str, path: str) -> bool:
    """Whether the document lists a route: the API's paths, without the ``HEAD`` twin of each ``GET``."""
    if method in ("GET", "HEAD") and not under(path, PROTECTED_PREFIXES):
        return False
    return method != "HEAD" and under(path, (*PROTECTED_PREFIXES, *PROTECTED_WRITE_PREFIXES))


def _tag(path: str) -> str:
    """``/api/south/{id}`` -> ``south``; ``/sse/home`` -> ``sse``."""
    parts = path.strip("/").split("/")
    return parts[1] if parts[0] == "api" and len(parts) > 1 else parts[0]


def _json(schema: Any) -> dict[str, Any]:
    return {_JSON: {"schema": schema}}


def _parameters(names: list[str], op: Operation) -> list[dict[str, Any]]:
    """The path parameters ``names`` and the query parameters of ``op``."""
    parameters = [{"name": name, "in": "path", "required": True, "schema": _STRING} for name in names]
    parameters += [
        {
            "name": param.name,
            "in": "query",
            "schema": param.schema,
            **({"description": param.description} if param.description else {}),
            **({"required": True} if param.required else {}),
        }
        for param in op.query
    ]
    return parameters


def _form(media: str, schema: Any) -> Any:
    # A multipart form is read field by field: it has the fields listed and no others (a field name outside
    # ASCII is not even a header aiohttp reads).
    if media.startswith("multipart/") and isinstance(schema, dict) and schema.get("type") == "object":
        return {**schema, "additionalProperties": False}
    return schema


def _operation(method: str, path: str, doc: str, known: Operation | None, schemas: _Schemas) -> dict[str, Any]:
    op = known or Operation(status=200)
    summary, _, details = inspect.cleandoc(doc).partition("\n")
    operation: dict[str, Any] = {
        "operationId": _OPERATION_ID.sub("_", f"{method.lower()} {path}").strip("_"),
        "tags": [_tag(path)],
        "summary": summary.strip(),
    }
    description = " ".join(part for part in (details.strip(), op.note) if part)
    if description:
        operation["description"] = description
    names = _PATH_PARAM.findall(path)
    parameters = _parameters(names, op)
    if parameters:
        operation["parameters"] = parameters
    if op.body is not None:
        operation["requestBody"] = {
            "required": op.body_required,
            "content": {op.media: {"schema": _form(op.media, schemas.of(op.body))}},
        }
    success: dict[str, Any] = {"description": _SUCCESS.get(op.status, "OK")}
    if op.answer is not None:
        success["content"] = {op.answer_media: {"schema": schemas.of(op.answer)}}
    message, refusal = schemas.of(ErrorMessage), schemas.of(AuthRefusal)
    responses: dict[str, Any] = {
        str(op.status): success,
        "400": {
            "description": "Invalid body or query parameter (`errors` names every bad field), or a refused change.",
            "content": _json({"anyOf": [schemas.of(ValidationErrors), message]}),
        },
    }
    if names or 404 in op.errors:
        responses["404"] = {"description": _ERRORS[404], "content": _json(message)}
    if op.body is not None:
        responses["413"] = {"description": "Body too large.", "content": _json(message)}
    for status in (409, 500, 503, 507):
        if status in op.errors:
            responses[str(status)] = {"description": _ERRORS[status], "content": _json(message)}
    if method == "GET" and path in PUBLIC_ROUTES:
        operation["security"] = []
    else:
        if path.startswith("/sse/"):
            # A browser's EventSource cannot send headers: it passes its token in the query.
            operation["security"] = [*_SECURITY, {"tokenQuery": []}]
        responses["401"] = {"description": "Credentials missing or refused.", "content": _json(refusal)}
        responses["403"] = {"description": "Token malformed, forged or expired.", "content": _json(refusal)}
        responses["429"] = {"description": "Too many failed logins (`Retry-After`).", "content": _json(refusal)}
    operation["responses"] = dict(sorted(responses.items()))
    if known is None:
        operation["x-oibus-undescribed"] = True
    return operation


def build_document(route_infos: Iterable[RouteInfo], manifests: ManifestSource) -> dict[str, Any]:
    """The OpenAPI document of the routes ``route_infos``, connector settings from ``manifests``."""
    listed = [(method, path, doc) for method, path, doc in route_infos if _served(method, path)]
    models: list[Any] = []
    for method, path, _ in listed:
        known = OPERATIONS.get((method, path))
        if known is not None:
            _models([known.body, known.answer], models)
    schemas = _Schemas(models, manifests)
    paths: dict[str, dict[str, Any]] = {}
    for method, path, doc in listed:
        paths.setdefault(path, {})[method.lower()] = _operation(
            method, path, doc, OPERATIONS.get((method, path)), schemas
        )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "OIBus",
            "version": engine_version(),
            "description": "REST API of OIBus. Bodies are read tolerantly: unknown fields are ignored, and the "
            "3.8 spellings upstream documents are accepted too.",
        },
        "security": _SECURITY,
        "paths": paths,
        "components": {"schemas": schemas.components, "securitySchemes": _SECURITY_SCHEMES},
    }


def route_infos(app: web.Application) -> tuple[RouteInfo, ...]:
    """What the document needs of the routes of an application."""
    ui_routes = app[UI_ROUTES]
    return tuple(
        (route.method, route.resource.canonical, route.handler.__doc__ or "")
        for route in app.router.routes()
        # The browser UI's pages and files share the application but are not part of the REST API.
        if route.resource is not None and route not in ui_routes
    )


def document_json(infos: tuple[RouteInfo, ...], manifests: ManifestSource) -> bytes:
    """The encoded document (blocking: imports connector manifests the first time)."""
    return _encoded(infos, (*manifests.types("south"), *manifests.types("north")))


@functools.lru_cache(maxsize=8)
def _encoded(infos: tuple[RouteInfo, ...], manifests: tuple[ConnectorManifest, ...]) -> bytes:
    # Keyed by content: built once per route table and set of manifests, whichever application asks.
    return msgspec.json.encode(build_document(infos, StaticManifests(manifests)))


@routes.get(OPENAPI_PATH)
async def get_openapi(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document of this API, generated from the models that validate requests."""
    infos = route_infos(request.app)
    body = await offload(document_json, infos, request.app[STORE].manifests)
    return web.Response(body=body, content_type=_JSON)
