"""What every API route reads and answers, for the OpenAPI document (``engine.api.openapi``).

Bodies and answers name the models that validate them; ``PerType`` and ``ItemSettings`` stand for bodies
whose ``settings`` follow a connector manifest. A route added to the application belongs here too: the
document lists a route missing here as ``x-oibus-undescribed``, and a test fails on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgspec

from engine.api.auth import LOGIN_ROUTE
from engine.api.content import TimeValue
from engine.api.log_relay import LokiPush
from engine.api.openapi_history import history_operations
from engine.api.routes_scan_modes import VerifyBody
from engine.api.routes_south import ItemIds, ItemTestCommand, MoveToGroup
from engine.api.routes_south_browse import BrowseCommand, BrowsePage
from engine.api.routes_transformers import TransformerDTO
from engine.api.util import QUERY_INT_MAX
from engine.cache.north.operations import CacheContentUpdateCommand
from engine.config.external_sources import ExternalSourceCommand, ExternalSourceDTO
from engine.config.items_csv import DELIMITER_SCHEMA
from engine.config.manifests import Kind
from engine.config.models import (
    CertificateCommand,
    CertificateDTO,
    ChangePasswordCommand,
    CurrentUserDTO,
    CustomTransformerCommand,
    CustomTransformerDTO,
    EngineSettings,
    EngineSettingsDTO,
    GeneralSettings,
    IpFilterCommand,
    IpFilterDTO,
    LoggerSettings,
    NorthCommand,
    NorthConnectorDTO,
    NorthConnectorLightDTO,
    NorthTransformerCommand,
    Page,
    ProxyServerSettings,
    ScanModeCommand,
    ScanModeDTO,
    SouthCommand,
    SouthConnectorDTO,
    SouthConnectorLightDTO,
    SouthGroupCommand,
    SouthGroupDTO,
    SouthItemCommand,
    SouthItemDTO,
    UserCommand,
    UserCreateCommand,
    UserDTO,
    WebServerChange,
    WebServerSettings,
)
from engine.logs.records import LOG_LEVELS, SCOPE_TYPES
from engine.metrics.history import Series
from engine.oianalytics.models import COMMAND_STATUSES, CommandDTO, RegistrationDTO, RegistrationSettings
from engine.sandbox.testing import CustomTransformerTest, TransformerTestRequest, TransformerTestResponse

OPENAPI_PATH = "/api/openapi.json"
_JSON = "application/json"


@dataclass(frozen=True, slots=True)
class PerType:
    """A connector command or DTO whose ``settings`` (and items' ``settings``) follow the manifest of its ``type``."""

    kind: Kind
    model: type[msgspec.Struct]
    item: type[msgspec.Struct] | None = None


@dataclass(frozen=True, slots=True)
class HistoryTypes:
    """A history-query command: its South settings and items follow ``southType``, its North settings ``northType``."""

    model: type[msgspec.Struct]
    item: type[msgspec.Struct]


@dataclass(frozen=True, slots=True)
class ItemSettings:
    """A South item command or DTO: its ``settings`` follow the item settings of its South's type."""

    model: type[msgspec.Struct]


@dataclass(frozen=True, slots=True)
class SettingsOf:
    """The ``settings`` of a connector of ``kind``, of whichever type (``x-oibus-settings`` maps each type)."""

    kind: Kind


@dataclass(frozen=True, slots=True)
class Param:
    """A query parameter."""

    name: str
    schema: dict[str, Any]
    description: str = ""
    required: bool = False


@dataclass(frozen=True, slots=True)
class Operation:
    """What one route reads and answers.

    ``body`` and ``answer`` are a type msgspec describes, a marker (``PerType``, ``ItemSettings``,
    ``SettingsOf``) or a JSON Schema dict (types inside it are resolved); ``errors`` lists the error statuses
    of its own (404, 409, 503).
    """

    body: Any = None
    body_required: bool = True
    status: int = 204
    answer: Any = None
    query: tuple[Param, ...] = ()
    note: str = ""
    media: str = _JSON
    answer_media: str = _JSON
    errors: tuple[int, ...] = ()


class ErrorMessage(msgspec.Struct, frozen=True):
    """A refusal, a missing entity or a malformed request (unreadable JSON, a bad query parameter)."""

    message: str


class ValidationErrors(msgspec.Struct, frozen=True):
    """A body that fails validation: ``errors`` maps the path of every bad field (``items[3].name``) to its problem."""

    message: str
    errors: dict[str, str]


class AuthRefusal(msgspec.Struct, frozen=True):
    """Missing, refused or throttled credentials (upstream's shape)."""

    error: str
    status: int


def object_schema(properties: dict[str, Any], *, required: Iterable[str] | None = None, **extra: Any) -> dict[str, Any]:
    """An object schema with ``properties``, all required unless ``required`` says otherwise."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties if required is None else required),
        **extra,
    }


def _each(names: Iterable[str], schema: dict[str, Any]) -> dict[str, Any]:
    return {name: schema for name in names}


_STRING: dict[str, Any] = {"type": "string"}
_STRINGS: dict[str, Any] = {"type": "array", "items": _STRING}
# One server-sent event as a client's parser sees it: its ``data`` line is the JSON text of the update.
_SSE_EVENT: dict[str, Any] = {
    "type": "object",
    "properties": {"data": _STRING, "event": _STRING, "id": _STRING, "retry": {"type": "integer"}},
}
_PAGE = {"type": "integer", "minimum": 0, "maximum": QUERY_INT_MAX, "default": 0}
_PAGE_NUMBER = Param("page", _PAGE, "Page number, from 0 (50 per page).")

_CRON_CHECK = object_schema(
    {
        "isValid": {"type": "boolean"},
        "errorMessage": _STRING,
        "nextExecutions": _STRINGS,
        "humanReadableForm": _STRING,
    }
)
# A cron check needs its cron (upstream's body is ``{cron}``), an interval check its interval.
_VERIFY_BODY = {
    "allOf": [
        VerifyBody,
        {
            "anyOf": [
                {"required": ["cron"], "properties": {"type": {"const": "cron"}, "cron": {"type": "string"}}},
                {"required": ["type", "interval"], "properties": {"type": {"const": "interval"}}},
            ]
        },
    ]
}
_TOKEN = object_schema(
    {"access_token": {"type": "string", "description": "Send it as `Authorization: Bearer <token>`."}}
)
_INFO = object_schema(
    {
        **_each(
            (
                "version",
                "launcherVersion",
                "oibusName",
                "oibusId",
                "dataDirectory",
                "binaryDirectory",
                "processId",
                "hostname",
                "operatingSystem",
                "architecture",
                "platform",
            ),
            _STRING,
        ),
        "ignoreIpFilters": {"type": "boolean"},
        "ignoreRemoteUpdate": {"type": "boolean"},
        "defaultPasswordInUse": {"type": "boolean"},
        "configurationRestored": {
            **_STRINGS,
            "description": "One line per configuration file found damaged and restored from a backup at this start.",
        },
        "unavailableStores": {
            **_STRINGS,
            "description": "One line per store the engine runs without for now (`logs.db: no space left ...`); "
            "each comes back by itself once space is freed.",
        },
    },
    description="`OIBusInfo`.",
)
_LOGS_UNAVAILABLE = "503 while `logs.db` is unavailable (its disk is full: see `unavailableStores`, engine info)."
_MODES = object_schema(_each(("subscription", "lastPoint", "lastFile", "history"), {"type": "boolean"}))
_JSON_SCHEMA = {"type": "object", "description": "A JSON Schema (the UI builds its form from it)."}


def _types_answer(kind: Kind) -> dict[str, Any]:
    own = {"modes": _MODES} if kind == "south" else {"types": _STRINGS}
    return {
        "type": "array",
        "items": object_schema({"id": _STRING, "name": _STRING, "category": _STRING, "description": _STRING, **own}),
    }


def _manifest_answer(kind: Kind) -> dict[str, Any]:
    header = {"id": _STRING, "name": _STRING, "category": _STRING, "description": _STRING, "settings": _JSON_SCHEMA}
    if kind == "south":
        return object_schema({**header, "modes": _MODES, "items": {"anyOf": [_JSON_SCHEMA, {"type": "null"}]}})
    return object_schema({**header, "types": _STRINGS})


_LOG = object_schema(
    {
        "timestamp": _STRING,
        "level": {"enum": list(LOG_LEVELS)},
        "scopeType": {"enum": list(SCOPE_TYPES)},
        **_each(("scopeId", "scopeName", "itemId", "itemName", "groupId", "groupName"), {"type": ["string", "null"]}),
        "message": _STRING,
    },
    required=("timestamp", "level", "scopeType", "message"),
)
_LOG_PAGE = object_schema(
    {
        "content": {"type": "array", "items": _LOG},
        **_each(("size", "number", "totalElements", "totalPages"), {"type": "integer"}),
    }
)


def _named(kind: str) -> dict[str, Any]:
    return object_schema({f"{kind}Id": _STRING, f"{kind}Name": _STRING})


def _list_param(name: str, description: str, allowed: Iterable[str] | None = None) -> Param:
    items: dict[str, Any] = {"type": "string"} if allowed is None else {"enum": list(allowed)}
    return Param(name, {"type": "array", "items": items}, f"{description} Repeated or comma separated.")


_TIME_VALUES = object_schema(
    {"type": {"const": "time-values"}, "content": {"type": "array", "items": TimeValue}},
    description="Time-values, validated then forwarded byte for byte.",
)
_DATA_SOURCE = (
    Param(
        "dataSourceId",
        {"type": "string", "minLength": 1},
        "Routing key of the content (`name` is read instead when it is missing, as 3.0-3.4 send it).",
        required=True,
    ),
    Param("name", _STRING, "Old spelling of `dataSourceId`."),
    _list_param("northId", "Send to these Norths only."),
)

_LEGACY_NAME = (
    Param(
        "name",
        {"type": "string", "minLength": 1},
        "Reference of the external source the data comes from.",
        required=True,
    ),
    Param("dataSourceId", _STRING, "Read when `name` is missing."),
)
_FILE = object_schema({"file": {"type": "string", "contentMediaType": "application/octet-stream"}})

_FOLDERS = ("cache", "error", "archive")
_OPTIONAL_STRING = {"type": ["string", "null"]}
_OIBUS_CONTENT = {
    "description": "Upstream's `OIBusContent`: time-values, a file, or any content.",
    "anyOf": [
        object_schema({"type": {"const": "time-values"}, "content": {"type": "array", "items": TimeValue}}),
        object_schema({"type": {"const": "any"}, "filePath": _STRING, "filename": _STRING}),
        object_schema({"type": {"const": "any-content"}, "content": {}}),
    ],
}
_LAST_VALUE = object_schema(
    {
        "itemId": _STRING,
        "itemName": _STRING,
        "groupId": _OPTIONAL_STRING,
        "groupName": _OPTIONAL_STRING,
        "queryTime": _OPTIONAL_STRING,
        "value": {},
        "trackedInstant": _OPTIONAL_STRING,
    }
)
_CACHE_ENTRY = object_schema(
    {
        "filename": _STRING,
        "contentFile": _STRING,
        "contentSize": {"type": "integer"},
        "numberOfElement": {"type": "integer"},
        "createdAt": _STRING,
        "contentType": _STRING,
    }
)


def _connector_operations(kind: Kind, body: PerType, answer: PerType, listed: Any) -> dict[tuple[str, str], Operation]:
    """The operations ``engine.api.connector_routes`` gives every connector kind, plus update and delete."""
    base = f"/api/{kind}"
    return {
        ("GET", f"{base}/types"): Operation(status=200, answer=_types_answer(kind)),
        ("GET", f"{base}/manifests/{{type}}"): Operation(status=200, answer=_manifest_answer(kind)),
        ("GET", base): Operation(status=200, answer=listed),
        ("POST", base): Operation(body=body, status=201, answer=answer),
        ("GET", f"{base}/{{id}}"): Operation(status=200, answer=answer),
        ("PUT", f"{base}/{{id}}"): Operation(body=body, note="An empty secret keeps the stored one."),
        ("DELETE", f"{base}/{{id}}"): Operation(),
        ("POST", f"{base}/{{id}}/start"): Operation(),
        ("POST", f"{base}/{{id}}/stop"): Operation(),
    }


_ITEM_COMMAND, _ITEM_DTO = ItemSettings(SouthItemCommand), ItemSettings(SouthItemDTO)
_ITEM_IDS = {"anyOf": [ItemIds, _STRINGS], "description": "`{itemIds}` (upstream 3.9), or the bare array of ids."}
_DELIMITER = DELIMITER_SCHEMA
_JSON_FILE = {"type": "string", "contentMediaType": "application/json", "description": "A JSON array of items."}
_CSV_FILE = {
    "type": "string",
    "contentMediaType": "text/csv",
    "description": "Items as CSV (`settings_<key>` columns).",
}
_IMPORT_ERROR = object_schema(
    {
        "item": {"type": "object", "description": "The row as read (secret columns empty)."},
        "error": _STRING,
        "line": {"type": "integer", "description": "Line of the row in the file (the header is line 1)."},
        "field": {"type": "string", "description": "The column at fault."},
    }
)

OPERATIONS: dict[tuple[str, str], Operation] = {
    # Engine.
    ("GET", "/api/engine"): Operation(status=200, answer=EngineSettingsDTO),
    ("PUT", "/api/engine"): Operation(
        body=EngineSettings,
        note="The 3.8 flat form (`name`, `port`, `proxyEnabled`, `proxyPort`, `logParameters`) is read too. "
        "An empty secret keeps the stored one.",
    ),
    ("PUT", "/api/engine/name"): Operation(body=GeneralSettings),
    ("PUT", "/api/engine/proxy"): Operation(body=ProxyServerSettings),
    ("PUT", "/api/engine/logger"): Operation(body=LoggerSettings),
    ("PUT", "/api/engine/web-server"): Operation(body=WebServerSettings, status=200, answer=WebServerChange),
    ("GET", "/api/engine/info"): Operation(status=200, answer=_INFO),
    ("GET", "/api/engine/status"): Operation(),
    ("GET", "/api/status"): Operation(),
    ("GET", OPENAPI_PATH): Operation(status=200, answer={"type": "object", "description": "This document."}),
    # Scan modes.
    ("GET", "/api/scan-modes"): Operation(status=200, answer=list[ScanModeDTO]),
    ("POST", "/api/scan-modes/verify"): Operation(body=_VERIFY_BODY, status=200, answer=_CRON_CHECK),
    ("POST", "/api/scan-modes"): Operation(body=ScanModeCommand, status=201, answer=ScanModeDTO),
    ("GET", "/api/scan-modes/{id}"): Operation(status=200, answer=ScanModeDTO),
    ("PUT", "/api/scan-modes/{id}"): Operation(body=ScanModeCommand),
    ("DELETE", "/api/scan-modes/{id}"): Operation(),
    # Connectors.
    **_connector_operations(
        "south",
        PerType("south", SouthCommand, SouthItemCommand),
        PerType("south", SouthConnectorDTO, SouthItemDTO),
        list[SouthConnectorLightDTO],
    ),
    **_connector_operations(
        "north", PerType("north", NorthCommand), PerType("north", NorthConnectorDTO), list[NorthConnectorLightDTO]
    ),
    # South items and groups.
    ("GET", "/api/south/{id}/items/list"): Operation(status=200, answer=list[SouthItemDTO]),
    ("GET", "/api/south/{id}/items/search"): Operation(
        status=200,
        answer=Page[SouthItemDTO],
        query=(
            Param("name", _STRING, "Part of the item name."),
            Param("scanModeId", _STRING),
            Param("enabled", {"type": "boolean"}),
            _PAGE_NUMBER,
        ),
    ),
    ("POST", "/api/south/{id}/items/enable"): Operation(body=_ITEM_IDS),
    ("POST", "/api/south/{id}/items/disable"): Operation(body=_ITEM_IDS),
    ("POST", "/api/south/{id}/items/delete"): Operation(body=_ITEM_IDS),
    ("POST", "/api/south/{id}/items/move-to-group"): Operation(body=MoveToGroup),
    # South items as CSV.
    ("POST", "/api/south/{id}/items/to-csv"): Operation(
        body=object_schema({"items": _JSON_FILE, "delimiter": _DELIMITER}, required=("items",)),
        media="multipart/form-data",
        status=200,
        answer=_STRING,
        answer_media="text/csv",
        errors=(404,),
        note="`{id}` is a South type (or a South id). Secret settings are written empty.",
    ),
    ("GET", "/api/south/{id}/items/export"): Operation(
        status=200, answer=_STRING, answer_media="text/csv", query=(Param("delimiter", _DELIMITER),), errors=(404,)
    ),
    ("POST", "/api/south/{id}/items/export"): Operation(
        body=object_schema({"delimiter": _DELIMITER}, required=()),
        body_required=False,
        status=200,
        answer=_STRING,
        answer_media="text/csv",
        errors=(404,),
    ),
    ("POST", "/api/south/{id}/items/import/check"): Operation(
        body=object_schema(
            {"itemsToImport": _CSV_FILE, "currentItems": _JSON_FILE, "delimiter": _DELIMITER},
            required=("itemsToImport",),
        ),
        media="multipart/form-data",
        status=200,
        answer=object_schema(
            {
                "items": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "description": (
                            "A checked item; `action` is `new`, or `update` when an item of that name is there"
                            " (`id` is then that item's)."
                        ),
                    },
                },
                "errors": {"type": "array", "items": _IMPORT_ERROR},
            }
        ),
        errors=(404,),
        note="`{id}` is a South type, or a South id (its stored items are then the current ones). Stores nothing.",
    ),
    ("POST", "/api/south/{id}/items/import"): Operation(
        body=object_schema({"items": _JSON_FILE, "itemsToImport": _CSV_FILE, "delimiter": _DELIMITER}, required=()),
        media="multipart/form-data",
        errors=(404,),
        note=(
            "`items` (a JSON array of items) or `itemsToImport` (a CSV): an item with a stored item's id or name"
            " updates it, any other is added; all or none."
        ),
    ),
    ("POST", "/api/south/{id}/items"): Operation(body=_ITEM_COMMAND, status=201, answer=_ITEM_DTO),
    ("DELETE", "/api/south/{id}/items"): Operation(),
    ("GET", "/api/south/{id}/items/{itemId}"): Operation(status=200, answer=_ITEM_DTO),
    ("PUT", "/api/south/{id}/items/{itemId}"): Operation(body=_ITEM_COMMAND),
    ("DELETE", "/api/south/{id}/items/{itemId}"): Operation(),
    ("POST", "/api/south/{id}/items/{itemId}/enable"): Operation(),
    ("POST", "/api/south/{id}/items/{itemId}/disable"): Operation(),
    ("GET", "/api/south/{id}/groups"): Operation(status=200, answer=list[SouthGroupDTO]),
    ("POST", "/api/south/{id}/groups"): Operation(body=SouthGroupCommand, status=201, answer=SouthGroupDTO),
    ("GET", "/api/south/{id}/groups/{groupId}"): Operation(status=200, answer=SouthGroupDTO),
    ("PUT", "/api/south/{id}/groups/{groupId}"): Operation(body=SouthGroupCommand),
    ("DELETE", "/api/south/{id}/groups/{groupId}"): Operation(),
    # North routing rules.
    ("POST", "/api/north/{id}/transformers"): Operation(body=NorthTransformerCommand),
    ("DELETE", "/api/north/{id}/transformers/{tid}"): Operation(),
    # Users.
    ("POST", LOGIN_ROUTE): Operation(status=200, answer=_TOKEN, errors=(403,)),
    ("GET", "/api/users/current-user"): Operation(status=200, answer=CurrentUserDTO),
    ("GET", "/api/users"): Operation(
        status=200, answer=Page[UserDTO], query=(Param("login", _STRING, "Part of the login."), _PAGE_NUMBER)
    ),
    ("POST", "/api/users"): Operation(
        body=UserCreateCommand, status=201, answer=UserDTO, note="Upstream's `{user, password}` is read too."
    ),
    ("GET", "/api/users/{id}"): Operation(status=200, answer=UserDTO),
    ("PUT", "/api/users/{id}"): Operation(body=UserCommand),
    ("DELETE", "/api/users/{id}"): Operation(),
    ("POST", "/api/users/{id}/password"): Operation(body=ChangePasswordCommand),
    # IP filters.
    ("GET", "/api/ip-filters"): Operation(status=200, answer=list[IpFilterDTO]),
    ("POST", "/api/ip-filters"): Operation(body=IpFilterCommand, status=201, answer=IpFilterDTO),
    ("GET", "/api/ip-filters/{id}"): Operation(status=200, answer=IpFilterDTO),
    ("PUT", "/api/ip-filters/{id}"): Operation(body=IpFilterCommand),
    ("DELETE", "/api/ip-filters/{id}"): Operation(),
    # Certificates.
    ("GET", "/api/certificates"): Operation(status=200, answer=list[CertificateDTO]),
    ("POST", "/api/certificates"): Operation(
        body=CertificateCommand,
        status=201,
        answer=CertificateDTO,
        note="`options` generates a self-signed certificate; `certificate` and `privateKey` (PEM) import one.",
    ),
    ("GET", "/api/certificates/{id}"): Operation(status=200, answer=CertificateDTO),
    ("PUT", "/api/certificates/{id}"): Operation(
        body=CertificateCommand,
        note="`regenerateCertificate` with `options` makes a new one; `certificate` replaces it (an empty "
        "`privateKey` keeps the stored key when it matches).",
    ),
    ("DELETE", "/api/certificates/{id}"): Operation(),
    # Ingestion.
    ("POST", "/api/content/content"): Operation(
        body={"anyOf": [_TIME_VALUES, {"description": "Any other JSON: any-content, forwarded as is."}]},
        query=_DATA_SOURCE,
        errors=(404, 503, 507),
        note="Answers once every target North stored the content; 404 when no North (running or stopped) takes it, "
        "503 (`Retry-After`) when one could not store it: send it again.",
    ),
    ("POST", "/api/content/file"): Operation(
        body=object_schema({"file": {"type": "string", "contentMediaType": "application/octet-stream"}}),
        media="multipart/form-data",
        query=_DATA_SOURCE,
        errors=(404, 503, 507),
    ),
    # Transformers (standard and custom).
    ("GET", "/api/transformers/types"): Operation(
        status=200,
        answer={"type": "array", "items": object_schema(_each(("id", "inputType", "outputType"), _STRING))},
    ),
    ("GET", "/api/transformers/manifests/{type}"): Operation(
        status=200,
        answer=object_schema(
            {"id": _STRING, "inputType": _STRING, "outputType": _STRING, "settings": {"type": "object"}}
        ),
        errors=(404,),
    ),
    ("GET", "/api/transformers/search"): Operation(
        status=200,
        answer=Page[TransformerDTO],
        query=(
            Param("type", {"enum": ["standard", "custom"]}, "Standard or custom transformers only."),
            Param("inputType", _STRING, "Transformers reading this type."),
            Param("outputType", _STRING, "Transformers producing this type."),
            Param("page", _PAGE, "Page number, from 0 (10 per page)."),
        ),
    ),
    ("GET", "/api/transformers/list"): Operation(status=200, answer=list[TransformerDTO]),
    ("GET", "/api/transformers/template/{inputType}"): Operation(
        status=200,
        answer=object_schema({"type": _STRING, "data": _STRING, "code": _STRING}),
        note="A sample input of `inputType` (any, time-values, setpoint) and the skeleton of a transformer.",
    ),
    ("POST", "/api/transformers/test"): Operation(
        body=CustomTransformerTest,
        status=200,
        answer=TransformerTestResponse,
        note="Runs an unsaved custom transformer in the sandbox; 400 names the failure kind "
        "(TIMEOUT_ERROR, MEMORY_LIMIT_EXCEEDED, RUNTIME_ERROR, COMPILATION_ERROR).",
    ),
    ("GET", "/api/transformers/{id}"): Operation(status=200, answer=TransformerDTO, errors=(404,)),
    ("POST", "/api/transformers"): Operation(body=CustomTransformerCommand, status=201, answer=CustomTransformerDTO),
    ("PUT", "/api/transformers/{id}"): Operation(body=CustomTransformerCommand, errors=(404,)),
    ("DELETE", "/api/transformers/{id}"): Operation(errors=(404,)),
    ("POST", "/api/transformers/{id}/test"): Operation(
        body=TransformerTestRequest, status=200, answer=TransformerTestResponse, errors=(404,)
    ),
    # External sources (3.0-3.4) and the ingestion paths of older senders.
    ("GET", "/api/external-sources"): Operation(status=200, answer=list[ExternalSourceDTO]),
    ("POST", "/api/external-sources"): Operation(body=ExternalSourceCommand, status=201, answer=ExternalSourceDTO),
    ("GET", "/api/external-sources/{id}"): Operation(status=200, answer=ExternalSourceDTO),
    ("PUT", "/api/external-sources/{id}"): Operation(body=ExternalSourceCommand),
    ("DELETE", "/api/external-sources/{id}"): Operation(),
    ("POST", "/api/add-values"): Operation(
        body={"type": "array", "items": TimeValue},
        query=_LEGACY_NAME,
        errors=(404, 503, 507),
        note="3.0-3.4 senders. 404 when `name` is no external source's reference, or no North takes it.",
    ),
    ("POST", "/api/add-file"): Operation(
        body=_FILE, media="multipart/form-data", query=_LEGACY_NAME, errors=(404, 503)
    ),
    ("POST", "/engine/addValues"): Operation(
        body={"type": "array", "items": TimeValue},
        status=200,
        query=_LEGACY_NAME,
        errors=(500,),
        note="v2 senders (`name` = `<OIBus>:<North>`). 400 for an unknown external source; 500 to send again.",
    ),
    ("POST", "/engine/addFile"): Operation(
        body=_FILE, media="multipart/form-data", status=200, query=_LEGACY_NAME, errors=(500,)
    ),
    ("POST", "/logs"): Operation(body=LokiPush, note="Loki push from another OIBus (v2 path)."),
    ("POST", "/api/logs"): Operation(body=LokiPush, note="Loki push from another OIBus: each line is logged here."),
    # Metrics and logs.
    ("GET", "/metrics"): Operation(status=200, answer=_STRING, answer_media="text/plain"),
    ("GET", "/api/logs"): Operation(
        status=200,
        answer=_LOG_PAGE,
        query=(
            Param("start", {"type": "string", "format": "date-time"}, "Default: 24 hours ago (no zone: UTC)."),
            Param("end", {"type": "string", "format": "date-time"}, "Default: now."),
            _list_param("levels", "Levels.", LOG_LEVELS),
            _list_param("scopeIds", "Scope ids."),
            _list_param("scopeTypes", "Scope types.", SCOPE_TYPES),
            _list_param("itemIds", "Item ids."),
            _list_param("groupIds", "Group ids."),
            Param("messageContent", _STRING, "Part of the message."),
            _PAGE_NUMBER,
        ),
        errors=(503,),
        note=_LOGS_UNAVAILABLE,
    ),
    ("GET", "/api/logs/scopes/suggest"): Operation(
        status=200, answer={"type": "array", "items": _named("scope")}, query=(Param("name", _STRING),), errors=(503,)
    ),
    ("GET", "/api/logs/scopes/{id}"): Operation(status=200, answer=_named("scope"), errors=(503,)),
    ("GET", "/api/logs/items/suggest"): Operation(
        status=200,
        answer={"type": "array", "items": _named("item")},
        query=(Param("name", _STRING), Param("scopeId", _STRING)),
        errors=(503,),
    ),
    ("GET", "/api/logs/items/{id}"): Operation(status=200, answer=_named("item"), errors=(503,)),
    ("GET", "/api/logs/groups/suggest"): Operation(
        status=200,
        answer={"type": "array", "items": _named("group")},
        query=(Param("name", _STRING), Param("scopeId", _STRING)),
        errors=(503,),
    ),
    ("GET", "/api/logs/groups/{id}"): Operation(status=200, answer=_named("group"), errors=(503,)),
    # Operations that run in a connector's worker (409 while it is not running).
    **{
        ("POST", f"/api/{kind}/{{id}}/test/connection"): Operation(
            body={
                "anyOf": [
                    object_schema({"settings": SettingsOf(kind), "type": _STRING}, required=("settings",)),
                    SettingsOf(kind),
                    {"type": "null"},
                ]
            },
            body_required=False,
            query=(Param(f"{kind}Type", _STRING, "The type of the settings sent (must be the stored one)."),),
            errors=(404, 409),
            note="No body, `{}` or `null` tests the stored settings; settings sent (a connector command, or the "
            "settings alone) are tested instead, an empty secret meaning the stored one. 400 says why the test "
            "failed.",
        )
        for kind in ("south", "north")
    },
    ("GET", "/api/south/{id}/browse"): Operation(
        status=200,
        answer=BrowsePage,
        query=(
            Param("node", _STRING, "The node whose children are listed (default: the Objects folder, i=85)."),
            Param("cursor", _STRING, "The `cursor` of the previous page."),
            Param("pageSize", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}),
        ),
        errors=(404, 409),
        note="One level, one page: 400 when the South type cannot browse or the node cannot be browsed.",
    ),
    ("POST", "/api/south/{id}/browse"): Operation(body=BrowseCommand, status=200, answer=BrowsePage, errors=(404, 409)),
    ("POST", "/api/south/{id}/items/test"): Operation(
        body=ItemTestCommand,
        status=200,
        answer=_OIBUS_CONTENT,
        query=(
            Param("itemName", _STRING, "The `pointId` of the values read."),
            Param("itemId", _STRING, "A stored item: its empty secrets are the stored ones."),
            Param("southType", _STRING),
        ),
        errors=(404, 409),
    ),
    ("GET", "/api/south/{id}/items/{itemId}/last-value"): Operation(status=200, answer=_LAST_VALUE),
    ("GET", "/api/north/{id}/cache/search"): Operation(
        status=200,
        answer=object_schema({folder: {"type": "array", "items": _CACHE_ENTRY} for folder in _FOLDERS}),
        query=(
            Param("nameContains", _STRING),
            Param("start", {"type": "string", "format": "date-time"}, "On `createdAt`, included (no zone: UTC)."),
            Param("end", {"type": "string", "format": "date-time"}, "On `createdAt`, excluded."),
            Param(
                "maxNumberOfFilesReturned",
                {"type": "integer", "minimum": 0, "maximum": QUERY_INT_MAX, "default": 1000},
                "Per folder.",
            ),
        ),
        errors=(404, 409, 503),
    ),
    ("GET", "/api/north/{id}/cache/content/{filename}"): Operation(
        status=200,
        answer={"type": "string", "contentMediaType": "application/octet-stream"},
        answer_media="*/*",
        query=(Param("folder", {"enum": list(_FOLDERS), "default": "cache"}),),
        errors=(409, 503),
    ),
    ("POST", "/api/north/{id}/cache/update"): Operation(body=CacheContentUpdateCommand, errors=(404, 409, 503)),
    # Metrics, live streams, restart.
    ("POST", "/api/engine/metrics/reset"): Operation(),
    ("GET", "/api/engine/metrics/history"): Operation(
        status=200,
        answer=Series,
        query=(Param("minutes", {"type": "integer", "minimum": 1, "maximum": 60, "default": 60}, "How far back."),),
        note="Ours: every South's values and files per second and every North's cache size, one point every 10 s.",
    ),
    ("POST", "/api/south/{id}/metrics/reset"): Operation(),
    ("POST", "/api/north/{id}/metrics/reset"): Operation(),
    ("GET", "/sse/home"): Operation(status=200, answer=_SSE_EVENT, answer_media="text/event-stream"),
    ("GET", "/sse/engine"): Operation(status=200, answer=_SSE_EVENT, answer_media="text/event-stream"),
    ("GET", "/sse/south/{id}"): Operation(status=200, answer=_SSE_EVENT, answer_media="text/event-stream"),
    ("GET", "/sse/north/{id}"): Operation(status=200, answer=_SSE_EVENT, answer_media="text/event-stream"),
    ("POST", "/api/engine/restart"): Operation(
        note="The engine stops once the answer is sent; the launcher starts it again."
    ),
    # OIAnalytics.
    ("GET", "/api/oianalytics/registration"): Operation(status=200, answer=RegistrationDTO),
    ("POST", "/api/oianalytics/register"): Operation(
        body=RegistrationSettings,
        errors=(503,),
        note="Posts a new activation code and public key to OIAnalytics; the registration is then PENDING and "
        "`GET /api/oianalytics/registration` shows the code. 400 when OIAnalytics refuses, 503 when unreachable.",
    ),
    ("PUT", "/api/oianalytics/registration"): Operation(
        body=RegistrationSettings, note="`host` is kept. An empty secret keeps the stored one."
    ),
    ("POST", "/api/oianalytics/registration/test-connection"): Operation(body=RegistrationSettings),
    ("POST", "/api/oianalytics/unregister"): Operation(note="Local only: OIAnalytics is not told."),
    ("GET", "/api/oianalytics/commands/search"): Operation(
        status=200,
        answer=Page[CommandDTO],
        query=(
            _list_param("types", "Command types."),
            _list_param("status", "Statuses.", COMMAND_STATUSES),
            Param("start", {"type": "string", "format": "date-time"}, "Retrieved at or after (no zone: UTC)."),
            Param("end", {"type": "string", "format": "date-time"}, "Retrieved before."),
            Param("ack", {"type": "boolean"}, "Whether OIAnalytics confirmed the current status."),
            _PAGE_NUMBER,
        ),
    ),
    ("DELETE", "/api/oianalytics/commands/{id}"): Operation(),
}

OPERATIONS.update(history_operations())
