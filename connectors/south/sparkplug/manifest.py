"""Manifest and settings of the Sparkplug B South (a host application decoding a Sparkplug namespace)."""

from __future__ import annotations

import string
from typing import Annotated

import msgspec

from connectors.common.mqtt import FlushMessageTimeout, MqttConnectionSettings
from connectors.manifest import ConnectorManifest, Modes

__all__ = ["MANIFEST", "SparkplugItemSettings", "SparkplugSettings"]

_FILTER = msgspec.Meta(min_length=1, max_length=255, pattern=r"^(\+|[^/+#\s]+)$")
"""A Sparkplug id, or ``+`` for any."""

TEMPLATE_FIELDS = frozenset({"group", "node", "device", "metric"})


def template_problem(template: str) -> str | None:
    """Why ``template`` is not a point id template, or ``None``."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as err:
        return str(err)
    unknown = sorted(names - TEMPLATE_FIELDS)
    if unknown:
        return f"unknown field {{{unknown[0]}}} (expected {{group}}, {{node}}, {{device}} or {{metric}})"
    if "metric" not in names:
        return "must contain {metric}"
    return None


class SparkplugSettings(MqttConnectionSettings, frozen=True, kw_only=True, rename="camel"):
    """Broker connection, the point ids built from the namespace, and how decoded values are batched."""

    point_id_template: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            title="Point ID template",
            description="Point id of a device metric: {group}, {node}, {device} and {metric} are replaced.",
        ),
    ] = "{group}/{node}/{device}/{metric}"
    node_point_id_template: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            title="Node point ID template",
            description="Point id of an edge node's own metric: {group}, {node} and {metric} are replaced.",
        ),
    ] = "{group}/{node}/{metric}"
    request_rebirth: Annotated[
        bool,
        msgspec.Meta(
            title="Request rebirth",
            description="Publish NCMD Node Control/Rebirth on an unknown alias, data before birth or a seq gap.",
        ),
    ] = True
    max_number_of_values: Annotated[
        int,
        msgspec.Meta(
            ge=1,
            le=100_000,
            title="Max number of values",
            description="Hand the decoded values over as soon as this many are buffered.",
        ),
    ] = 5000
    flush_message_timeout: FlushMessageTimeout = 1000

    def __post_init__(self) -> None:
        super().__post_init__()
        for field, template in (
            ("pointIdTemplate", self.point_id_template),
            ("nodePointIdTemplate", self.node_point_id_template),
        ):
            problem = template_problem(template)
            if problem is not None:
                raise ValueError(f"{field}: {problem}")


class SparkplugItemSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Which edge nodes and devices of the namespace the item takes (``+``: any)."""

    group_id: Annotated[str, _FILTER, msgspec.Meta(title="Group ID", description="Sparkplug group, or +.")] = "+"
    edge_node_id: Annotated[
        str, _FILTER, msgspec.Meta(title="Edge node ID", description="Edge node in the group, or +.")
    ] = "+"
    device_id: Annotated[
        str, _FILTER, msgspec.Meta(title="Device ID", description="Device under the node, or + for all.")
    ] = "+"
    node_metrics: Annotated[
        bool, msgspec.Meta(title="Node metrics", description="Also take the edge node's own metrics (NBIRTH/NDATA).")
    ] = True


MANIFEST = ConnectorManifest(
    id="sparkplug",
    kind="south",
    name="Sparkplug B",
    category="iot",
    description="Decode a Sparkplug B namespace (births, aliases, sequence numbers, rebirth requests)",
    settings=SparkplugSettings,
    item_settings=SparkplugItemSettings,
    modes=Modes(subscription=True),
)
