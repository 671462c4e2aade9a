"""OPC UA South: current values (polled or subscribed) and history (raw or aggregated) of OPC UA nodes."""

from connectors.south.opcua.connector import OpcuaSouth
from connectors.south.opcua.manifest import MANIFEST

__all__ = ["MANIFEST", "OpcuaSouth"]
