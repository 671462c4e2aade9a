"""Manifest and settings of the MQTT North (upstream names, plus ``retain``)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from connectors.common.mqtt import MqttConnectionSettings
from connectors.manifest import ConnectorManifest

__all__ = ["MANIFEST", "MqttNorthSettings"]


class MqttNorthSettings(MqttConnectionSettings, frozen=True, kw_only=True, rename="camel"):
    """Broker connection and how messages are published."""

    retain: Annotated[
        bool,
        msgspec.Meta(title="Retain", description="Publish with the retain flag (a message may override it)."),
    ] = False


MANIFEST = ConnectorManifest(
    id="mqtt",
    kind="north",
    name="MQTT",
    category="iot",
    description="Publish messages to an MQTT broker",
    settings=MqttNorthSettings,
    types=("mqtt",),
)
