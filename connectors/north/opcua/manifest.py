"""Manifest and settings of the OPC UA North."""

from __future__ import annotations

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
)
from connectors.manifest import ConnectorManifest

__all__ = ["MANIFEST", "OpcuaNorthSettings"]


class OpcuaNorthSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """The server to write to, and how to secure and authenticate the session."""

    url: Url
    keep_session_alive: KeepSessionAlive = False
    retry_interval: RetryInterval = 10000
    security_mode: SecurityModeField = "none"
    security_policy: SecurityPolicyField = "none"
    authentication: AuthenticationField = msgspec.field(default_factory=OpcuaAuthentication)

    def __post_init__(self) -> None:
        check_security(self.security_mode, self.security_policy)


MANIFEST = ConnectorManifest(
    id="opcua",
    kind="north",
    name="OPC UA",
    category="iot",
    description="Write values (setpoints, transformed time-values) to the nodes of an OPC UA server",
    settings=OpcuaNorthSettings,
    types=("opcua",),
)
