"""REST North: sends files and values batches to an HTTP endpoint."""

from connectors.north.rest.connector import RestNorth
from connectors.north.rest.manifest import MANIFEST

__all__ = ["MANIFEST", "RestNorth"]
