"""Sparkplug B South: a host application decoding births, aliases and sequence numbers into time-values."""

from connectors.south.sparkplug.connector import SparkplugSouth
from connectors.south.sparkplug.manifest import MANIFEST

__all__ = ["MANIFEST", "SparkplugSouth"]
