"""Manifest and settings of the Modbus TCP South."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from connectors.common.modbus import DataType, ModbusConnectionSettings, parse_address
from connectors.manifest import ConnectorManifest, Modes

__all__ = ["MANIFEST", "ModbusItemData", "ModbusItemSettings", "ModbusSettings", "ModbusType"]

ModbusType = Literal["coil", "discrete-input", "input-register", "holding-register"]


class ModbusSettings(ModbusConnectionSettings, frozen=True, kw_only=True):
    """Where the Modbus server is, how its values are laid out, and how reads are grouped."""

    batch_query: Annotated[
        bool,
        msgspec.Meta(
            title="Batch queries",
            description=(
                "Read neighbouring items of the same table in one request instead of one request each. "
                "Default true, where upstream's is false: far fewer requests for the same values, and a "
                "server that refuses a batch has its items read one by one, so the values match. A "
                "configuration exported from upstream carries batchQuery and behaves the same here."
            ),
        ),
    ] = True
    grouping_gap: Annotated[
        int,
        msgspec.Meta(
            ge=0,
            le=2000,
            title="Grouping gap",
            description="Unused addresses a batched request may span between two items (0: only adjacent items).",
            extra={"unit": "registers or bits"},
        ),
    ] = 0


class ModbusItemData(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """How the registers of a register item are decoded."""

    data_type: Annotated[
        DataType,
        msgspec.Meta(title="Data type", description="Type of the value; sets how many registers it spans (1, 2 or 4)."),
    ] = "uint16"
    bit_index: Annotated[
        Annotated[int, msgspec.Meta(ge=0, le=15)] | None,
        msgspec.Meta(title="Bit index", description="With dataType bit: the bit of the register (0-15, default 0)."),
    ] = None
    multiplier_coefficient: Annotated[
        float,
        msgspec.Meta(title="Multiplier coefficient", description="The decoded value is multiplied by this factor."),
    ] = 1.0


class ModbusItemSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One value of the Modbus server."""

    address: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            title="Address",
            description="Decimal (40001) or hexadecimal (0x9C41) address, before the address offset.",
        ),
    ]
    modbus_type: Annotated[
        ModbusType, msgspec.Meta(title="Modbus type", description="The table the address belongs to.")
    ] = "holding-register"
    data: Annotated[
        ModbusItemData | None,
        msgspec.Meta(title="Data", description="Decoding of register items (ignored for coils and discrete inputs)."),
    ] = None

    def __post_init__(self) -> None:
        # A malformed address is a validation error with its path (items[3].settings.address), not a
        # failure at the first read. The range after the offset is checked by the connector, which knows it.
        try:
            parse_address(self.address)
        except ValueError as err:
            raise ValueError(f"address: {err}") from None


MANIFEST = ConnectorManifest(
    id="modbus",
    kind="south",
    name="Modbus",
    category="iot",
    description="Read coils, discrete inputs, input and holding registers from a Modbus TCP server",
    settings=ModbusSettings,
    item_settings=ModbusItemSettings,
    modes=Modes(last_point=True),
)
