"""Manifest and settings of the REST South."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from connectors.common.rest import RestAuthentication, RestProxy
from connectors.common.timestamps import strptime_format
from connectors.manifest import ConnectorManifest, Modes

__all__ = ["MANIFEST", "RestItemSettings", "RestSettings"]


class DateTimeInput(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """How ``@StartTime``/``@EndTime`` are written, or how the tracked instant is read."""

    type: Annotated[Literal["iso-string", "unix-epoch", "unix-epoch-ms", "string"], msgspec.Meta(title="Type")] = (
        "iso-string"
    )
    timezone: Annotated[str, msgspec.Meta(title="Timezone", description="With type string.")] = "UTC"
    format: Annotated[str, msgspec.Meta(title="Format", description="Luxon format, with type string.")] = (
        "yyyy-MM-dd HH:mm:ss.SSS"
    )
    locale: Annotated[str, msgspec.Meta(title="Locale")] = "en-En"

    def __post_init__(self) -> None:
        if self.type == "string":
            strptime_format(self.format)


class TimedKeyValue(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """A query parameter or header; ``@StartTime``/``@EndTime`` in its value are replaced."""

    key: Annotated[str, msgspec.Meta(min_length=1, title="Key")]
    value: Annotated[str, msgspec.Meta(title="Value")] = ""
    date_time_input: DateTimeInput | None = None


class RestBody(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """The request body (POST, PUT, PATCH, DELETE); ``@StartTime``/``@EndTime`` are replaced."""

    content: str | None = None
    date_time_input: DateTimeInput | None = None


class TrackingInstant(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Where the newest instant of an answer is (JSONPath), so the next query starts there."""

    track_instant: bool = False
    json_path: str | None = None
    date_time_input: DateTimeInput = DateTimeInput()

    def __post_init__(self) -> None:
        if not self.track_instant:
            return
        if not self.json_path:
            raise ValueError("jsonPath is required when trackInstant is set")
        import jsonpath

        try:
            jsonpath.compile(self.json_path)
        except jsonpath.JSONPathError as err:
            raise ValueError(f"invalid JSONPath: {err}") from None


class RestTest(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """The request the connection test sends."""

    method: Literal["GET", "POST", "PUT"] = "GET"
    endpoint: str = "/"
    body: str | None = None
    success_code: Annotated[int, msgspec.Meta(ge=100, le=599)] = 200


class RestSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """The API to query, and how to reach it."""

    host: Annotated[
        str, msgspec.Meta(pattern="^(?i:https?)://", title="Host", description="Base URL (http:// or https://).")
    ]
    accept_unauthorized: Annotated[
        bool, msgspec.Meta(title="Accept unauthorized", description="Accept any TLS certificate (self-signed).")
    ] = False
    timeout: Annotated[int, msgspec.Meta(ge=1, title="Timeout", extra={"unit": "s"})] = 30
    authentication: RestAuthentication = RestAuthentication()
    proxy: RestProxy = RestProxy()
    test: RestTest = RestTest()


class RestItemSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One request per history window; its answer becomes one file."""

    endpoint: Annotated[str, msgspec.Meta(min_length=1, title="Endpoint", description="Resolved against host.")]
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    query_params: list[TimedKeyValue] = []
    headers: list[TimedKeyValue] = []
    body: RestBody = RestBody()
    return_type: Annotated[
        Literal["body", "file"],
        msgspec.Meta(title="Return type", description="body: the answer as JSON/XML/text; file: as downloaded."),
    ] = "body"
    tracking_instant: TrackingInstant = TrackingInstant()


MANIFEST = ConnectorManifest(
    id="rest",
    kind="south",
    name="REST",
    category="api",
    description="Query an HTTP API over history windows",
    settings=RestSettings,
    item_settings=RestItemSettings,
    modes=Modes(history=True),
)
