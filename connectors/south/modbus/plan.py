"""Read planning of the Modbus South: where each item lives, and which requests cover them.

With ``batchQuery``, the items of one table are sorted by address and neighbours share a request when the
unused addresses between them are at most ``groupingGap``; a request never exceeds what the protocol allows
(2000 bits, 125 registers), so a long run of items is split. Without it, each item gets its own request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connectors.base import Item
from connectors.common.modbus import (
    BIT_TABLES,
    MAX_READ_BITS,
    MAX_READ_REGISTERS,
    AddressOffset,
    DataType,
    protocol_address,
    word_count,
)
from connectors.south.modbus.manifest import ModbusItemData, ModbusItemSettings

__all__ = ["Point", "Request", "covered", "locate", "plan"]

_DEFAULT_DATA = ModbusItemData()


@dataclass(frozen=True, slots=True)
class Point:
    """One item, located: its table, first address on the wire and size (registers, or 1 bit)."""

    item: Item[ModbusItemSettings]
    table: str
    address: int
    size: int
    data_type: DataType
    bit_index: int
    multiplier: float

    @property
    def end(self) -> int:
        """The address just past the item."""
        return self.address + self.size


@dataclass(slots=True)
class Request:
    """One read request and the items it covers."""

    table: str
    address: int
    count: int
    points: list[Point] = field(default_factory=list)

    @property
    def end(self) -> int:
        """The address just past the request."""
        return self.address + self.count


def locate(item: Item[ModbusItemSettings], offset: AddressOffset) -> Point:
    """Where ``item`` lives on the wire; ``ValueError`` naming the problem when it cannot be read."""
    settings = item.settings
    table = settings.modbus_type
    if table in BIT_TABLES:
        data_type: DataType = "bit"
        size = 1
        bit_index = 0
        multiplier = 1.0
    else:
        data = settings.data or _DEFAULT_DATA
        data_type = data.data_type
        size = word_count(data_type)
        bit_index = data.bit_index or 0
        multiplier = data.multiplier_coefficient
    address = protocol_address(settings.address, offset, size)
    return Point(item, table, address, size, data_type, bit_index, multiplier)


def _limit(table: str) -> int:
    return MAX_READ_BITS if table in BIT_TABLES else MAX_READ_REGISTERS


def plan(points: list[Point], *, batch: bool, grouping_gap: int) -> list[Request]:
    """The requests that read ``points``: grouped by table and address when ``batch``, else one per point."""
    if not batch:
        return [Request(point.table, point.address, point.size, [point]) for point in points]
    by_table: dict[str, list[Point]] = {}
    for point in points:
        by_table.setdefault(point.table, []).append(point)
    requests: list[Request] = []
    for table, located in by_table.items():
        limit = _limit(table)
        current: Request | None = None
        for point in sorted(located, key=lambda p: (p.address, p.size)):
            if (
                current is not None
                and point.address - current.end <= grouping_gap
                and max(current.end, point.end) - current.address <= limit
            ):
                current.count = max(current.end, point.end) - current.address
                current.points.append(point)
                continue
            current = Request(table, point.address, point.size, [point])
            requests.append(current)
    return requests


def covered(request: Request, point: Point, values: list[Any]) -> list[Any]:
    """The part of a request's answer that holds ``point``."""
    start = point.address - request.address
    return values[start : start + point.size]
