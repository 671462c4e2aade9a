"""Manifest and settings of the OPC UA South."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from connectors.common.opcua import (
    AuthenticationField,
    KeepSessionAlive,
    OpcuaAuthentication,
    RetryInterval,
    SecurityModeField,
    SecurityPolicyField,
    Url,
    check_security,
    parse_node_id,
)
from connectors.manifest import ConnectorManifest, Modes

__all__ = ["MANIFEST", "OpcuaHaMode", "OpcuaItemSettings", "OpcuaSettings"]


class OpcuaSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Where the server is, how to secure and authenticate the session, and how reads are paced."""

    url: Url
    keep_session_alive: KeepSessionAlive = False
    read_timeout: Annotated[
        int,
        msgspec.Meta(
            ge=100, le=3_600_000, title="Read timeout", description="Time a request may take.", extra={"unit": "ms"}
        ),
    ] = 15000
    retry_interval: RetryInterval = 10000
    max_number_of_messages: Annotated[
        int,
        msgspec.Meta(
            ge=1,
            le=1_000_000,
            title="Max number of messages",
            description="Subscription: hand values over as soon as this many are buffered.",
        ),
    ] = 1000
    flush_message_timeout: Annotated[
        int,
        msgspec.Meta(
            ge=1,
            le=1_000_000,
            title="Flush message timeout",
            description="Subscription: hand buffered values over at least this often.",
            extra={"unit": "ms"},
        ),
    ] = 1000
    security_mode: SecurityModeField = "none"
    security_policy: SecurityPolicyField = "none"
    authentication: AuthenticationField = msgspec.field(default_factory=OpcuaAuthentication)
    max_parallel_run: Annotated[
        int,
        msgspec.Meta(
            ge=1, le=100, title="Max parallel runs", description="Scan-mode runs (reads) in progress at once."
        ),
    ] = 1

    def __post_init__(self) -> None:
        check_security(self.security_mode, self.security_policy)


class OpcuaHaMode(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """How an HA item reads history: raw values, or an aggregate per resampling interval."""

    aggregate: Annotated[
        Literal["raw", "average", "minimum", "maximum", "count"],
        msgspec.Meta(title="Aggregate", description="raw values, or the server's aggregate per interval."),
    ] = "raw"
    resampling: Annotated[
        Literal[
            "none", "1s", "10s", "30s", "1min", "1h", "1d",
            "second", "10Seconds", "30Seconds", "minute", "hour", "day",
        ],
        msgspec.Meta(
            title="Resampling",
            description="Aggregate interval (none: one aggregate per read window); 3.8 names accepted too.",
        ),
    ] = "none"  # fmt: skip


_PROCESSING_MS = {
    "none": 0,
    "1s": 1000, "second": 1000,
    "10s": 10_000, "10Seconds": 10_000,
    "30s": 30_000, "30Seconds": 30_000,
    "1min": 60_000, "minute": 60_000,
    "1h": 3_600_000, "hour": 3_600_000,
    "1d": 86_400_000, "day": 86_400_000,
}  # fmt: skip


def processing_interval_ms(ha_mode: OpcuaHaMode) -> int:
    """The processing interval of an aggregate read (0: the whole read window)."""
    return _PROCESSING_MS[ha_mode.resampling]


class OpcuaItemSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One node: read as current data (DA: polled or subscribed) or as history (HA)."""

    node_id: Annotated[
        str, msgspec.Meta(min_length=1, title="Node id", description="OPC UA node id, e.g. ns=2;s=Temperature.")
    ]
    mode: Annotated[
        Literal["ha", "da"], msgspec.Meta(title="Mode", description="da: current value; ha: history read.")
    ] = "ha"
    ha_mode: Annotated[
        OpcuaHaMode | None, msgspec.Meta(title="HA mode", description="Aggregate and resampling of an HA item.")
    ] = None
    timestamp_origin: Annotated[
        Literal["oibus", "point", "server"],
        msgspec.Meta(
            title="Timestamp origin",
            description="DA: timestamp of the read (oibus), of the value at its source (point) or of the server.",
        ),
    ] = "oibus"

    def __post_init__(self) -> None:
        # Parsed here so that a bad node id is a validation error with its path (items[3].settings.nodeId).
        parse_node_id(self.node_id, "nodeId")


MANIFEST = ConnectorManifest(
    id="opcua",
    kind="south",
    name="OPC UA",
    category="iot",
    description="Read current values (polled or subscribed) and history (raw or aggregated) from an OPC UA server",
    settings=OpcuaSettings,
    item_settings=OpcuaItemSettings,
    modes=Modes(subscription=True, last_point=True, history=True),
    browse=True,
)
