"""Manifest and settings of the OPC South (classic OPC HDA/DA through the OIBus Agent, as upstream 3.9)."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

import msgspec

from connectors.common.oibus_agent import AgentRetryInterval, AgentSettings
from connectors.manifest import ConnectorManifest, Modes

__all__ = ["AGGREGATES", "MANIFEST", "OpcItemSettings", "OpcSettings"]

Aggregate = Literal[
    "raw",
    "interpolative",
    "total",
    "average",
    "time-average",
    "count",
    "stdev",
    "minimum-actual-time",
    "minimum",
    "maximum-actual-time",
    "maximum",
    "start",
    "end",
    "delta",
    "reg-slope",
    "reg-const",
    "reg-dev",
    "variance",
    "range",
    "duration-good",
    "duration-bad",
    "percent-good",
    "percent-bad",
    "worst-quality",
    "annotations",
]
AGGREGATES: tuple[str, ...] = get_args(Aggregate)
Resampling = Literal["none", "1s", "10s", "30s", "1min", "1h", "1d"]


class OpcSettings(AgentSettings, frozen=True, kw_only=True, rename="camel"):
    """Which agent, and which OPC server the agent opens (by host and ProgID), in HDA or DA mode."""

    retry_interval: AgentRetryInterval = 1000
    host: Annotated[
        str, msgspec.Meta(min_length=1, title="Server host", description="OPC server host, as the agent reaches it.")
    ] = "localhost"
    server_name: Annotated[
        str, msgspec.Meta(min_length=1, title="Server name", description="ProgID of the OPC server.")
    ] = "Matrikon.OPC.Simulation"
    mode: Annotated[
        Literal["hda", "da"],
        msgspec.Meta(title="Mode", description="hda: history reads; da: the agent reads current values."),
    ] = "hda"


class OpcItemSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One OPC item, read raw or through a server-side aggregate."""

    node_id: Annotated[str, msgspec.Meta(min_length=1, title="Node ID", description="Item id on the OPC server.")]
    aggregate: Annotated[
        Aggregate, msgspec.Meta(title="Aggregate", description="raw, or an aggregate the server supports.")
    ] = "raw"
    resampling: Annotated[
        Resampling, msgspec.Meta(title="Resampling", description="Aggregate interval (not used with raw).")
    ] = "none"


MANIFEST = ConnectorManifest(
    id="opc",
    kind="south",
    name="OPC",
    category="iot",
    description="Read OPC HDA/DA servers (COM/DCOM) through the OIBus Agent",
    settings=OpcSettings,
    item_settings=OpcItemSettings,
    modes=Modes(history=True),
)
