"""Manifest and settings of the Siemens S7 South."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from connectors.manifest import ConnectorManifest, Modes
from connectors.south.s7.address import parse_address

__all__ = ["MANIFEST", "S7ItemSettings", "S7Settings"]

ConnectionType = Literal["PG", "OP", "S7Basic"]

_TIMEOUT = msgspec.Meta(ge=100, le=60000)


class S7Settings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Where the PLC is and how the connection to it is opened (ISO-on-TCP, upstream v3.10's settings)."""

    host: Annotated[
        str, msgspec.Meta(min_length=1, title="Host", description="Host name or IP address of the PLC.")
    ] = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535, title="Port", description="ISO-on-TCP port of the PLC.")] = 102
    connection_type: Annotated[
        ConnectionType,
        msgspec.Meta(
            title="Connection type",
            description="PG (programming device), OP (operator panel) or S7Basic: the resource the PLC grants.",
        ),
    ] = "PG"
    rack: Annotated[int, msgspec.Meta(ge=0, le=7, title="Rack", description="Rack of the CPU (0 on S7-1200/1500).")] = 0
    slot: Annotated[
        int, msgspec.Meta(ge=0, le=31, title="Slot", description="Slot of the CPU (1 on S7-1200/1500, 2 on S7-300).")
    ] = 1
    connect_timeout: Annotated[
        int,
        _TIMEOUT,
        msgspec.Meta(title="Connect timeout", description="Time allowed to open the connection.", extra={"unit": "ms"}),
    ] = 10000
    request_timeout: Annotated[
        int,
        _TIMEOUT,
        msgspec.Meta(
            title="Request timeout",
            description="Time allowed for the PLC to answer one read; past it the connection is restarted.",
            extra={"unit": "ms"},
        ),
    ] = 15000
    retry_interval: Annotated[
        int,
        _TIMEOUT,
        msgspec.Meta(
            title="Retry interval",
            description="Accepted for compatibility; reconnection follows the engine's backoff.",
            extra={"unit": "ms"},
        ),
    ] = 10000


class S7ItemSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One value of the PLC, by address."""

    address: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            title="Address",
            description="DB1,REAL0 (data block 1, a REAL at byte 0), DB1,X4.0 (bit 0 of byte 4), MW2, I0.1, Q0.0...",
        ),
    ] = "DB1,REAL0"

    def __post_init__(self) -> None:
        # A malformed address is a validation error with its path (items[3].settings.address), not a
        # failure at the first read.
        try:
            parse_address(self.address)
        except ValueError as err:
            raise ValueError(f"address: {err}") from None


MANIFEST = ConnectorManifest(
    id="s7",
    kind="south",
    name="Siemens S7",
    category="iot",
    description="Read data blocks, memory, inputs and outputs of a Siemens S7 PLC over ISO-on-TCP",
    settings=S7Settings,
    item_settings=S7ItemSettings,
    modes=Modes(last_point=True),
)
