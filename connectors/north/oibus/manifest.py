"""Manifest and settings of the oibus North (send to another OIBus)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from connectors.manifest import ConnectorManifest, OptionalSecret

__all__ = ["MANIFEST", "OIBusSettings"]

HttpUrl = Annotated[str, msgspec.Meta(pattern=r"^https?://[^\s/?#]+[^\s]*$(?!\n)")]
TargetVersion = Literal["3.8+", "3.0-3.4", "2"]
NorthId = Annotated[str, msgspec.Meta(pattern=r"^[^,\s]+$", max_length=255)]
"""One North id of the receiver: no comma (the separator on the wire) and no blank."""


class OIBusSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Where the other OIBus is, how to log in, and which generation of OIBus it is."""

    host: Annotated[
        HttpUrl,
        msgspec.Meta(title="Host", description="Base URL of the other OIBus, e.g. http://10.0.0.2:2223."),
    ]
    target_version: Annotated[
        TargetVersion,
        msgspec.Meta(
            title="Target version",
            description="Generation of the receiving OIBus: 3.8+ (content API), 3.0-3.4 or 2.",
        ),
    ] = "3.8+"
    north_ids: Annotated[
        list[NorthId],
        msgspec.Meta(
            title="Target North ids",
            description=(
                "Ids of the receiving OIBus's Norths that store the data, sent as northId=<id>,<id> (3.8+ only;"
                " an upstream 3.8+ receiver requires them). Empty: the receiver routes by its own rules."
            ),
            max_length=100,
        ),
    ] = []
    username: Annotated[
        str | None, msgspec.Meta(title="Username", description="User of the other OIBus (HTTP Basic).")
    ] = None
    password: Annotated[OptionalSecret, msgspec.Meta(title="Password", description="That user's password.")] = None
    accept_unauthorized: Annotated[
        bool,
        msgspec.Meta(title="Accept unauthorized", description="Accept any TLS certificate (self-signed ones too)."),
    ] = False
    timeout: Annotated[
        int, msgspec.Meta(ge=1, le=3600, title="Timeout", description="Seconds to wait for an answer.")
    ] = 30
    use_proxy: Annotated[bool, msgspec.Meta(title="Use proxy", description="Go through an HTTP proxy.")] = False
    proxy_url: Annotated[
        HttpUrl | None,
        msgspec.Meta(title="Proxy URL", description="Proxy URL, e.g. http://10.0.0.1:9000 (required with useProxy)."),
    ] = None
    proxy_username: Annotated[str | None, msgspec.Meta(title="Proxy username", description="Proxy user.")] = None
    proxy_password: Annotated[
        OptionalSecret, msgspec.Meta(title="Proxy password", description="Proxy user's password.")
    ] = None

    def __post_init__(self) -> None:
        """Refuse a proxy switched on without its URL, and target North ids for a receiver that has none."""
        if self.use_proxy and not self.proxy_url:
            raise ValueError("proxyUrl is required when useProxy is true")
        if self.north_ids and self.target_version != "3.8+":
            version = self.target_version
            raise ValueError(f"northIds: only a 3.8+ receiver takes target North ids (targetVersion is {version})")


MANIFEST = ConnectorManifest(
    id="oibus",
    kind="north",
    name="OIBus",
    category="api",
    description="Send values and files to another OIBus (3.8+, 3.0-3.4 or v2), e.g. from OT to IT",
    settings=OIBusSettings,
    types=("any", "time-values"),
)
