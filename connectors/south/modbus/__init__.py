"""Modbus TCP South: reads coils, discrete inputs, input and holding registers (``lastPoint`` mode)."""

from connectors.south.modbus.connector import ModbusSouth
from connectors.south.modbus.manifest import MANIFEST

__all__ = ["MANIFEST", "ModbusSouth"]
