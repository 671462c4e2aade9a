"""Manifest and settings of the Sparkplug B North (an edge node publishing one device's metrics)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from connectors.common.mqtt import MqttConnectionSettings
from connectors.manifest import ConnectorManifest

__all__ = ["MANIFEST", "SparkplugNorthSettings"]

_ID = msgspec.Meta(min_length=1, max_length=255, pattern=r"^[^/+#\s]+$")
"""A Sparkplug id: no topic separator, wildcard or whitespace."""


class SparkplugNorthSettings(MqttConnectionSettings, frozen=True, kw_only=True, rename="camel"):
    """Broker connection (``qos``: the QoS of DDATA), and the node's place in the Sparkplug namespace."""

    group_id: Annotated[str, _ID, msgspec.Meta(title="Group ID", description="Sparkplug group of the node.")] = "OIBus"
    edge_node_id: Annotated[
        str, _ID, msgspec.Meta(title="Edge node ID", description="Name of this edge node in the group.")
    ] = "oibus"
    device_id: Annotated[
        str, _ID, msgspec.Meta(title="Device ID", description="Device under the node whose metrics are the points.")
    ] = "values"
    metrics_per_message: Annotated[
        int,
        msgspec.Meta(ge=1, le=10_000, title="Metrics per DDATA", description="Values published in one DDATA at most."),
    ] = 500


MANIFEST = ConnectorManifest(
    id="sparkplug",
    kind="north",
    name="Sparkplug B",
    category="iot",
    description="Publish time-values as Sparkplug B metrics (births, aliases, sequence numbers, death certificate)",
    settings=SparkplugNorthSettings,
    types=("time-values",),
)
