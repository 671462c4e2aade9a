"""Siemens S7 South: reads data blocks, memory, inputs and outputs of an S7 PLC (``lastPoint`` mode)."""

from connectors.south.s7.connector import S7South
from connectors.south.s7.manifest import MANIFEST

__all__ = ["MANIFEST", "S7South"]
