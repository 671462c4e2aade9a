"""OPC South: classic OPC HDA/DA servers read through the OIBus Agent over HTTP."""

from connectors.south.opc.connector import OpcSouth
from connectors.south.opc.manifest import MANIFEST

__all__ = ["MANIFEST", "OpcSouth"]
