"""Sparkplug B North: an edge node publishing time-values as the metrics of one device over MQTT."""

from connectors.north.sparkplug.connector import SparkplugNorth
from connectors.north.sparkplug.manifest import MANIFEST

__all__ = ["MANIFEST", "SparkplugNorth"]
