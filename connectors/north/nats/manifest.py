"""Manifest and settings of the NATS North (JetStream publishes, acknowledged before release)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from connectors.common.published import NameTemplate
from connectors.manifest import ConnectorManifest, OptionalSecret

__all__ = ["MANIFEST", "NatsAuthentication", "NatsNorthSettings"]


class NatsAuthentication(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """How the North logs in: anonymously, with a user name and password, or with a token."""

    type: Annotated[Literal["none", "user-password", "token"], msgspec.Meta(title="Type")] = "none"
    username: Annotated[str, msgspec.Meta(max_length=255)] | None = None
    password: OptionalSecret = None
    token: OptionalSecret = None

    def __post_init__(self) -> None:
        if self.type == "user-password" and not self.username:
            raise ValueError("authentication.username is required with user-password authentication")
        if self.type == "token" and not self.token:
            raise ValueError("authentication.token is required with token authentication")


class NatsNorthSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Servers, login, and where each value is published."""

    servers: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=2048,
            pattern=r"^\s*(nats|tls)://[^,\s]+(\s*,\s*(nats|tls)://[^,\s]+)*\s*$",
            title="Servers",
            description="nats:// (or tls://) URL of a server, or several separated by commas.",
        ),
    ] = "nats://localhost:4222"
    authentication: NatsAuthentication = msgspec.field(default_factory=NatsAuthentication)
    subject: Annotated[NameTemplate, msgspec.Meta(title="Subject")] = "oibus.{pointId}"
    stream: Annotated[
        str,
        msgspec.Meta(
            max_length=255,
            pattern=r"^[^\s.*>]*$",
            title="Stream",
            description="Name of the JetStream stream that must take the messages (empty: any stream).",
        ),
    ] = ""
    connect_timeout: Annotated[
        int, msgspec.Meta(ge=100, le=300_000, title="Connect timeout", description="Time allowed to connect (ms).")
    ] = 10_000
    ack_timeout: Annotated[
        int,
        msgspec.Meta(ge=100, le=600_000, title="Ack timeout", description="Time allowed for a batch's acks (ms)."),
    ] = 30_000


MANIFEST = ConnectorManifest(
    id="nats",
    kind="north",
    name="NATS JetStream",
    category="iot",
    description="Publish each time-value to a NATS JetStream subject, released once the stream acknowledged it",
    settings=NatsNorthSettings,
    types=("time-values",),
)
