"""Console North: prints what it receives (debugging aid)."""

from connectors.north.console.connector import ConsoleNorth
from connectors.north.console.manifest import MANIFEST

__all__ = ["MANIFEST", "ConsoleNorth"]
