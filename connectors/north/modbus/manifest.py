"""Manifest and settings of the Modbus TCP North."""

from __future__ import annotations

import msgspec

from connectors.common.modbus import (
    AddressOffsetField,
    ConnectTimeout,
    EndiannessField,
    Host,
    NetworkTimeout,
    Port,
    RetryInterval,
    SlaveId,
    SwapBytesInWords,
    SwapWordsInDWords,
)
from connectors.manifest import ConnectorManifest

__all__ = ["MANIFEST", "ModbusNorthSettings"]


class ModbusNorthSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Where the Modbus server is, and how multi-register values are laid out."""

    host: Host
    port: Port = 502
    connect_timeout: ConnectTimeout = 10_000
    network_timeout: NetworkTimeout = 15_000
    retry_interval: RetryInterval = 10_000
    slave_id: SlaveId = 1
    address_offset: AddressOffsetField = "modbus"
    endianness: EndiannessField = "big-endian"
    swap_bytes_in_words: SwapBytesInWords = False
    swap_words_in_dwords: SwapWordsInDWords = msgspec.field(default=False, name="swapWordsInDWords")


MANIFEST = ConnectorManifest(
    id="modbus",
    kind="north",
    name="Modbus",
    category="iot",
    description="Write values to coils and holding registers of a Modbus TCP server",
    settings=ModbusNorthSettings,
    types=("modbus",),
)
