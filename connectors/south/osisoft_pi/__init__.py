"""OSIsoft PI South: PI points read through the OIBus Agent over HTTP."""

from connectors.south.osisoft_pi.connector import PiSouth
from connectors.south.osisoft_pi.manifest import MANIFEST

__all__ = ["MANIFEST", "PiSouth"]
