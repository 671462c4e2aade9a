"""REST South: queries an HTTP API over history windows and hands each answer over as a file."""

from connectors.south.rest.connector import RestSouth
from connectors.south.rest.manifest import MANIFEST

__all__ = ["MANIFEST", "RestSouth"]
