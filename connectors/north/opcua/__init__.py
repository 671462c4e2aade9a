"""OPC UA North: writes ``opcua`` content (``[{nodeId, value, dataType?}]``) to an OPC UA server."""

from connectors.north.opcua.connector import OpcuaNorth
from connectors.north.opcua.manifest import MANIFEST

__all__ = ["MANIFEST", "OpcuaNorth"]
