"""The Modbus register codec, address parsing and read planning (no network: pure functions)."""

from __future__ import annotations

import itertools
import math
import struct

import msgspec
import pytest

from connectors.base import Item
from connectors.common.modbus import (
    ByteOrder,
    DataType,
    decode,
    encode,
    format_number,
    parse_address,
    protocol_address,
)
from connectors.south.modbus.manifest import ModbusItemSettings
from connectors.south.modbus.plan import Request, locate, plan

STANDARD = ByteOrder(big_endian=True, swap_bytes_in_words=False, swap_words_in_dwords=True)
UPSTREAM_DEFAULT = ByteOrder()
ORDERS = [ByteOrder(*flags) for flags in itertools.product((True, False), repeat=3)]


def regs(data: bytes) -> list[int]:
    """Registers of big-endian bytes, first register most significant (the Modbus convention)."""
    return list(struct.unpack(f">{len(data) // 2}H", data))


@pytest.mark.parametrize(
    ("registers", "data_type", "order", "expected"),
    [
        ([0xFFFF], "uint16", UPSTREAM_DEFAULT, 65535),
        ([0xFFFE], "int16", UPSTREAM_DEFAULT, -2),
        ([0x1234], "uint16", ByteOrder(swap_bytes_in_words=True), 0x3412),
        ([0x1234], "uint16", ByteOrder(big_endian=False), 0x3412),
        ([0x1234], "uint16", ByteOrder(big_endian=False, swap_bytes_in_words=True), 0x1234),
        # swapWordsInDWords true: the first register is the high word (the usual Modbus order).
        ([0x0001, 0x0002], "uint32", STANDARD, 0x00010002),
        # Upstream's default (false): the first register is the LOW word.
        ([0x0001, 0x0002], "uint32", UPSTREAM_DEFAULT, 0x00020001),
        ([0xFFFF, 0xFFFE], "int32", STANDARD, -2),
        ([0xFFFE, 0xFFFF], "int32", UPSTREAM_DEFAULT, -2),
        ([0x1234, 0x5678], "uint32", ByteOrder(swap_bytes_in_words=True, swap_words_in_dwords=True), 0x34127856),
        ([0x0001, 0x0002], "uint32", ByteOrder(big_endian=False, swap_words_in_dwords=True), 0x02000100),
        (regs(struct.pack(">f", 3.5)), "float", STANDARD, 3.5),
        (regs(struct.pack(">f", 3.5))[::-1], "float", UPSTREAM_DEFAULT, 3.5),
        # Little-endian with swapped bytes reads a standard float when words are (upstream-default) swapped.
        (regs(struct.pack(">f", 3.5)), "float", ByteOrder(big_endian=False, swap_bytes_in_words=True), 3.5),
        ([0xFFFF] * 4, "big-uint64", STANDARD, 2**64 - 1),
        ([0xFFFF, 0xFFFF, 0xFFFF, 0xFFFE], "big-int64", STANDARD, -2),
        # A 64-bit value is two 32-bit groups, each word-swapped by default: [w1 w0 w3 w2].
        ([1, 2, 3, 4], "big-uint64", UPSTREAM_DEFAULT, 0x0002_0001_0004_0003),
        (regs(struct.pack(">d", -1234.5678)), "double", STANDARD, -1234.5678),
        ([0b0100], "bit", UPSTREAM_DEFAULT, 1),
        ([0b0100], "bit", ByteOrder(swap_bytes_in_words=True), 0),
        ([0x0400], "bit", ByteOrder(swap_bytes_in_words=True), 1),
    ],
)
def test_decode_known_layouts(registers: list[int], data_type: DataType, order: ByteOrder, expected: float) -> None:
    bit_index = 2 if data_type == "bit" else 0
    assert decode(registers, data_type, order, bit_index) == expected


SAMPLES: dict[DataType, list[int | float]] = {
    "uint16": [0, 1, 0x1234, 65535],
    "int16": [-32768, -2, 0, 32767],
    "uint32": [0, 0x01020304, 2**32 - 1],
    "int32": [-(2**31), -2, 2**31 - 1],
    "big-uint64": [0, 0x0102030405060708, 2**64 - 1],
    "big-int64": [-(2**63), -2, 2**63 - 1],
    "float": [0.0, 3.5, -1.25 * 2.0**40],  # values a float32 holds exactly
    "double": [0.0, math.pi, -1.0e-300],
}


@pytest.mark.parametrize("order", ORDERS, ids=repr)
@pytest.mark.parametrize("data_type", list(SAMPLES))
def test_encode_is_the_inverse_of_decode_for_every_byte_order(data_type: DataType, order: ByteOrder) -> None:
    for value in SAMPLES[data_type]:
        registers = encode(value, data_type, order)
        assert all(0 <= register <= 0xFFFF for register in registers)
        assert decode(registers, data_type, order) == value


def test_encode_writes_upstreams_default_word_order() -> None:
    assert encode(0x00020001, "uint32", UPSTREAM_DEFAULT) == [0x0001, 0x0002]
    assert encode(0x00010002, "uint32", STANDARD) == [0x0001, 0x0002]


@pytest.mark.parametrize(
    ("value", "data_type", "problem"),
    [
        (70000, "uint16", "does not fit uint16"),
        (-1, "uint32", "does not fit uint32"),
        (1.5, "int32", "is not an integer"),
        (2**64, "big-uint64", "does not fit big-uint64"),
        (1, "bit", "through its coil"),
    ],
)
def test_encode_rejects_values_that_do_not_fit(value: float, data_type: DataType, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        encode(value, data_type, STANDARD)


@pytest.mark.parametrize(
    ("value", "data_type", "multiplier", "text"),
    [
        (5, "uint16", 1.0, "5"),
        (1234, "uint16", 0.1, "123.4"),
        (-2, "int16", 0.5, "-1"),
        (2**64 - 1, "big-uint64", 1.0, "18446744073709551615"),
        (struct.unpack(">f", struct.pack(">f", math.pi))[0], "float", 1.0, "3.14159"),
        (12.0, "double", 1.0, "12"),
        (1e-5, "double", 1.0, "0.00001"),
        (-1e-7, "double", 1.0, "0"),
        (math.nan, "float", 1.0, "NaN"),
        (math.inf, "double", 1.0, "Infinity"),
        (1, "bit", 1000.0, "1"),
    ],
)
def test_values_are_formatted_as_upstream_sends_them(
    value: float, data_type: DataType, multiplier: float, text: str
) -> None:
    assert format_number(value, data_type, multiplier) == text


def test_addresses_are_decimal_or_hexadecimal() -> None:
    assert parse_address("40001") == 40001
    assert parse_address("0x9C41") == 40001
    assert parse_address(" 0X10 ") == 16
    assert parse_address(7) == 7
    for bad in ("12a", "-1", "", "0x", "1.5"):
        with pytest.raises(ValueError, match="decimal or 0x-hexadecimal"):
            parse_address(bad)
    with pytest.raises(ValueError, match="16-bit address range"):
        parse_address("70000")


def test_protocol_address_applies_the_offset_and_checks_the_range() -> None:
    assert protocol_address("10", "modbus") == 10
    assert protocol_address("10", "jbus") == 9
    assert protocol_address("65536", "jbus") == 65535
    with pytest.raises(ValueError, match="jbus addresses start at 1"):
        protocol_address("0", "jbus")
    with pytest.raises(ValueError, match="goes past 65535"):
        protocol_address("65534", "modbus", 4)


def item(
    index: int, address: int, modbus_type: str = "holding-register", data_type: str = "uint16"
) -> Item[ModbusItemSettings]:
    settings = msgspec.convert(
        {"address": str(address), "modbusType": modbus_type, "data": {"dataType": data_type}}, ModbusItemSettings
    )
    return Item(id=f"i{index}", name=f"item {index}", enabled=True, settings=settings)


def spans(requests: list[Request]) -> list[tuple[str, int, int]]:
    return [(request.table, request.address, request.count) for request in requests]


def test_adjacent_and_overlapping_items_share_a_request() -> None:
    points = [
        locate(item(i, a, data_type=t), "modbus")
        for i, (a, t) in enumerate([(2, "uint16"), (0, "uint32"), (1, "uint16")])
    ]
    assert spans(plan(points, batch=True, grouping_gap=0)) == [("holding-register", 0, 3)]


def test_grouping_gap_bounds_the_unused_addresses_a_request_spans() -> None:
    points = [locate(item(0, 0), "modbus"), locate(item(1, 5), "modbus")]
    assert spans(plan(points, batch=True, grouping_gap=4)) == [("holding-register", 0, 6)]
    assert spans(plan(points, batch=True, grouping_gap=3)) == [("holding-register", 0, 1), ("holding-register", 5, 1)]


def test_requests_are_split_at_the_protocol_limits() -> None:
    registers = [locate(item(i, i), "modbus") for i in range(130)]
    assert spans(plan(registers, batch=True, grouping_gap=0)) == [
        ("holding-register", 0, 125),
        ("holding-register", 125, 5),
    ]
    coils = [locate(item(i, i, "coil"), "modbus") for i in range(2100)]
    assert spans(plan(coils, batch=True, grouping_gap=0)) == [("coil", 0, 2000), ("coil", 2000, 100)]
    # A 4-register value that would cross the limit starts the next request.
    wide = [locate(item(0, 0, data_type="float"), "modbus"), locate(item(1, 123, data_type="double"), "modbus")]
    assert spans(plan(wide, batch=True, grouping_gap=200)) == [("holding-register", 0, 2), ("holding-register", 123, 4)]


def test_tables_are_never_mixed_and_batching_can_be_disabled() -> None:
    points = [
        locate(item(0, 0, "coil"), "modbus"),
        locate(item(1, 1, "discrete-input"), "modbus"),
        locate(item(2, 0, "input-register"), "modbus"),
        locate(item(3, 1, "holding-register"), "modbus"),
        locate(item(4, 2, "holding-register"), "modbus"),
    ]
    assert sorted(spans(plan(points, batch=True, grouping_gap=10))) == [
        ("coil", 0, 1),
        ("discrete-input", 1, 1),
        ("holding-register", 1, 2),
        ("input-register", 0, 1),
    ]
    assert len(plan(points, batch=False, grouping_gap=10)) == 5
