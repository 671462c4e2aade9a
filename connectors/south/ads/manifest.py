"""Manifest and settings of the Beckhoff TwinCAT ADS South."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from connectors.manifest import ConnectorManifest, Modes

__all__ = ["MANIFEST", "AdsItemSettings", "AdsSettings", "StructureFilter"]

AsText = Literal["Text", "Integer"]
NET_ID = msgspec.Meta(pattern=r"^\d{1,3}(\.\d{1,3}){5}$")


class StructureFilter(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Which fields of a PLC structure type are handed over."""

    name: Annotated[str, msgspec.Meta(min_length=1, title="Structure type", description="Name of the PLC type.")]
    fields: Annotated[
        str, msgspec.Meta(min_length=1, title="Fields", description="Comma-separated field names, or * for all.")
    ] = "*"


class AdsSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Where the PLC's ADS device is, the route to it, and how values are written (upstream's settings)."""

    net_id: Annotated[
        str, NET_ID, msgspec.Meta(title="AMS net id", description="AMS net id of the PLC, e.g. 192.168.1.120.1.1.")
    ]
    port: Annotated[
        int, msgspec.Meta(ge=1, le=65535, title="ADS port", description="ADS port of the PLC runtime (851: TwinCAT 3).")
    ] = 851
    router_address: Annotated[
        str | None,
        msgspec.Meta(title="Router address", description="Host of the PLC's AMS router (default: from the net id)."),
    ] = None
    router_tcp_port: Annotated[
        Annotated[int, msgspec.Meta(ge=1, le=65535)] | None,
        msgspec.Meta(title="Router TCP port", description="TCP port of the AMS router (default 48898)."),
    ] = None
    client_ams_net_id: Annotated[
        Annotated[str, NET_ID] | None,
        msgspec.Meta(
            title="Client AMS net id", description="Net id OIBus uses; must match a route declared in the PLC."
        ),
    ] = None
    client_ads_port: Annotated[
        Annotated[int, msgspec.Meta(ge=1, le=65535)] | None,
        msgspec.Meta(title="Client ADS port", description="Accepted for compatibility; the library picks its port."),
    ] = None
    retry_interval: Annotated[
        int,
        msgspec.Meta(
            ge=100,
            title="Retry interval",
            description="Accepted for compatibility; reconnection follows the engine's backoff.",
            extra={"unit": "ms"},
        ),
    ] = 10000
    plc_name: Annotated[
        str, msgspec.Meta(title="PLC name", description="Prefix of every point id (point id = PLC name + item name).")
    ] = ""
    enum_as_text: Annotated[
        AsText, msgspec.Meta(title="Enumerations", description="Text: the enumerator's name; Integer: its value.")
    ] = "Text"
    bool_as_text: Annotated[AsText, msgspec.Meta(title="Booleans", description="Text: true/false; Integer: 1/0.")] = (
        "Integer"
    )
    structure_filtering: Annotated[
        list[StructureFilter],
        msgspec.Meta(title="Structure filtering", description="The structure types to flatten and their fields."),
    ] = msgspec.field(default_factory=list)


class AdsItemSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One symbol of the PLC."""

    address: Annotated[
        str, msgspec.Meta(min_length=1, title="Symbol", description="Symbol name in the PLC, e.g. MAIN.counter.")
    ]


MANIFEST = ConnectorManifest(
    id="ads",
    kind="south",
    name="ADS - TwinCAT",
    category="iot",
    description="Read symbols of a Beckhoff TwinCAT PLC over ADS",
    settings=AdsSettings,
    item_settings=AdsItemSettings,
    modes=Modes(last_point=True),
    browse=True,
)
