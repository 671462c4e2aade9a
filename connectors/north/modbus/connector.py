"""Modbus TCP North connector: writes setpoints to coils and holding registers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import msgspec

from connectors.base import ConnectorContext, NorthConnector
from connectors.common.modbus import ByteOrder, DataType, encode, protocol_address, word_count
from connectors.common.modbus_client import ModbusClient, ModbusRefused, ModbusSession
from connectors.errors import ConnectorConnectionError, ConnectorError, SendError
from connectors.north.modbus.manifest import MANIFEST, ModbusNorthSettings

__all__ = ["ModbusNorth"]

_TRUE = frozenset({"1", "true", "on"})
_FALSE = frozenset({"0", "false", "off"})


class ModbusValue(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One element of ``modbus`` content: upstream's ``{address, value, modbusType}``, plus ``dataType``.

    ``modbusType`` ``register`` (upstream's word) and ``holding-register`` both mean a holding register.
    ``dataType`` (an addition) writes a value spanning several registers with the connector's byte order; without
    it a register takes a 16-bit integer (``int16`` when negative, else ``uint16``), as upstream writes.
    """

    address: str | int
    value: bool | int | float | str
    modbus_type: Literal["coil", "register", "holding-register"]
    data_type: DataType | None = None


_CONTENT = msgspec.json.Decoder(list[ModbusValue])


@dataclass(frozen=True, slots=True)
class _Write:
    """One validated write: a coil, or the registers of a value."""

    index: int
    address: int
    coil: bool | None = None
    registers: tuple[int, ...] = ()


class ModbusNorth(ModbusSession[ModbusNorthSettings], NorthConnector[ModbusNorthSettings]):
    """Writes each element of a ``modbus`` content in order, after checking them all.

    A malformed content (bad address, value out of range for its type...) is refused as a whole before any
    write, with every problem named; a refusal by the server stops at that element (the entry is retried,
    writes are idempotent). A lost connection is reported to the runner, which reconnects, and the entry is
    kept to be sent again.
    """

    manifest = MANIFEST

    def __init__(self, settings: ModbusNorthSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self._order = ByteOrder.of(settings)
        self._client: ModbusClient | None = None

    async def handle_content(self, content_type: str, data: bytes) -> None:
        """Write a ``modbus`` content: ``[{"address", "value", "modbusType", "dataType"?}]``."""
        if content_type != "modbus":
            raise SendError(f"content type {content_type!r} cannot be written by the Modbus North")
        writes = self._validate(data)
        client = self._client
        if client is None:
            raise SendError("not connected to the Modbus server", retry_forever=True)
        for write in writes:
            try:
                if write.coil is not None:
                    await client.write_coil(write.address, write.coil)
                else:
                    await client.write_registers(write.address, list(write.registers))
            except ConnectorConnectionError as err:
                self.context.connection_lost(str(err))
                raise SendError(f"[{write.index}] {err}", retry_forever=True) from err
            except ModbusRefused as err:
                raise SendError(f"[{write.index}] {err}") from err
            except ConnectorError as err:
                raise SendError(f"[{write.index}] {err}") from err

    def _validate(self, data: bytes) -> list[_Write]:
        try:
            elements = _CONTENT.decode(data)
        except msgspec.ValidationError as err:
            raise SendError(f"invalid modbus content: {err}") from err
        except msgspec.DecodeError as err:
            raise SendError(f"modbus content is not JSON: {err}") from err
        writes: list[_Write] = []
        problems: list[str] = []
        for index, element in enumerate(elements):
            try:
                writes.append(self._write(index, element))
            except _Invalid as err:
                problems.append(f"[{index}].{err.field}: {err.problem}")
        if problems:
            raise SendError("invalid modbus content: " + "; ".join(problems))
        return writes

    def _write(self, index: int, element: ModbusValue) -> _Write:
        offset = self.settings.address_offset
        if element.modbus_type == "coil":
            if element.data_type not in (None, "bit"):
                raise _Invalid("dataType", f"a coil holds one bit, not {element.data_type}")
            return _Write(index, _address(element.address, offset, 1), coil=_coil(element.value))
        data_type = element.data_type or _default_type(element.value)
        if data_type == "bit":
            raise _Invalid("dataType", "bit is for coils; write a register with a 16-bit type")
        address = _address(element.address, offset, word_count(data_type))
        try:
            registers = encode(_number(element.value), data_type, self._order)
        except ValueError as err:
            raise _Invalid("value", str(err)) from None
        return _Write(index, address, registers=tuple(registers))


class _Invalid(Exception):
    """A field of one content element is wrong."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field = field
        self.problem = problem


def _address(address: str | int, offset: Literal["modbus", "jbus"], size: int) -> int:
    try:
        return protocol_address(address, offset, size)
    except ValueError as err:
        raise _Invalid("address", str(err)) from None


def _coil(value: bool | int | float | str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _Invalid("value", f"a coil takes true/false or 1/0, not {value!r}")


def _number(value: bool | int | float | str) -> int | float:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    text = value.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise _Invalid("value", f"expected a number, got {value!r}") from None


def _default_type(value: bool | int | float | str) -> DataType:
    """Upstream writes one register; a negative number is taken as a signed one."""
    try:
        number = _number(value)
    except _Invalid:
        return "uint16"  # The value error is reported by the encoding.
    return "int16" if number < 0 else "uint16"
