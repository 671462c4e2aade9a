"""Modbus TCP North: writes ``modbus`` content (``[{address, value, modbusType}]``) to coils and registers."""

from connectors.north.modbus.connector import ModbusNorth
from connectors.north.modbus.manifest import MANIFEST

__all__ = ["MANIFEST", "ModbusNorth"]
