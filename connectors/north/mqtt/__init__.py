"""MQTT North: publishes ``mqtt`` content (``[{topic, payload}]``) to a broker."""

from connectors.north.mqtt.connector import MqttNorth
from connectors.north.mqtt.manifest import MANIFEST

__all__ = ["MANIFEST", "MqttNorth"]
