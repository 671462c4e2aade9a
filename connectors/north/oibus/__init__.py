"""OIBus North: relays values and files to another OIBus engine (any generation)."""

from connectors.north.oibus.connector import OIBusNorth
from connectors.north.oibus.manifest import MANIFEST

__all__ = ["MANIFEST", "OIBusNorth"]
