"""Manifest and settings of the Modbus TCP North."""

from __future__ import annotations

from connectors.common.modbus import ModbusConnectionSettings
from connectors.manifest import ConnectorManifest

__all__ = ["MANIFEST", "ModbusNorthSettings"]


class ModbusNorthSettings(ModbusConnectionSettings, frozen=True, kw_only=True):
    """Where the Modbus server is, and how multi-register values are laid out (the shared Modbus settings)."""


MANIFEST = ConnectorManifest(
    id="modbus",
    kind="north",
    name="Modbus",
    category="iot",
    description="Write values to coils and holding registers of a Modbus TCP server",
    settings=ModbusNorthSettings,
    types=("modbus",),
)
