"""MQTT South: subscribes to broker topics and hands messages over as time-values or any-content."""

from connectors.south.mqtt.connector import MqttSouth
from connectors.south.mqtt.manifest import MANIFEST

__all__ = ["MANIFEST", "MqttSouth"]
