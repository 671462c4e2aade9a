"""Manifest and settings of the REST North."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from connectors.common.rest import KeyValue, RestAuthentication, RestProxy
from connectors.manifest import ConnectorManifest

__all__ = ["MANIFEST", "RestNorthSettings", "RestTestSettings"]


class RestTestSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """The request the connection test sends."""

    test_method: Annotated[Literal["GET", "POST", "PUT"], msgspec.Meta(title="Test method")] = "GET"
    test_endpoint: Annotated[str, msgspec.Meta(title="Test endpoint", description="Resolved against host.")] = "/"
    body: Annotated[str | None, msgspec.Meta(title="Body", description="Sent with POST and PUT.")] = None
    test_success_code: Annotated[int, msgspec.Meta(ge=100, le=599, title="Test success code")] = 200


class RestNorthSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Where to send each cache entry, how, and what counts as success."""

    host: Annotated[
        str,
        msgspec.Meta(
            pattern="^(?i:https?)://",
            title="Host",
            description="Base URL of the target (http:// or https://).",
        ),
    ]
    accept_unauthorized: Annotated[
        bool, msgspec.Meta(title="Accept unauthorized", description="Accept any TLS certificate (self-signed).")
    ] = False
    method: Annotated[Literal["POST", "PUT", "PATCH"], msgspec.Meta(title="Method")] = "POST"
    endpoint: Annotated[
        str, msgspec.Meta(min_length=1, title="Endpoint", description="Path resolved against host.")
    ] = "/api/data"
    timeout: Annotated[
        int, msgspec.Meta(ge=1, title="Timeout", description="Whole request at most.", extra={"unit": "s"})
    ] = 30
    send_as: Annotated[
        Literal["body", "file"],
        msgspec.Meta(title="Send as", description="body: the raw bytes; file: a multipart form field 'file'."),
    ] = "body"
    success_code: Annotated[
        int,
        msgspec.Meta(ge=100, le=599, title="Success code", description="Status that confirms a send (any 2xx too)."),
    ] = 200
    authentication: Annotated[RestAuthentication, msgspec.Meta(title="Authentication")] = RestAuthentication()
    proxy: Annotated[RestProxy, msgspec.Meta(title="Proxy")] = RestProxy()
    query_params: Annotated[list[KeyValue], msgspec.Meta(title="Query parameters")] = []
    headers: Annotated[list[KeyValue], msgspec.Meta(title="Headers")] = []
    test: Annotated[RestTestSettings, msgspec.Meta(title="Connection test")] = RestTestSettings()


MANIFEST = ConnectorManifest(
    id="rest",
    kind="north",
    name="REST",
    category="api",
    description="Send files and values to an HTTP endpoint",
    settings=RestNorthSettings,
    types=("any", "time-values"),
)
