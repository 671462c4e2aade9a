"""Beckhoff TwinCAT ADS South: reads PLC symbols by name (``lastPoint`` mode)."""

from connectors.south.ads.connector import AdsSouth
from connectors.south.ads.manifest import MANIFEST

__all__ = ["MANIFEST", "AdsSouth"]
