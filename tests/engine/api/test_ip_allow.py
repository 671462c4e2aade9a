"""IP filter matching: loopback, wildcards, IPv4 and IPv4-mapped IPv6 both ways."""

from __future__ import annotations

import pytest

from engine.api.ip_allow import IpAllowList, IpFilter, address_forms


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "::1", "::ffff:127.0.0.1", "::FFFF:127.0.0.1", "::ffff:7f00:1", "0:0:0:0:0:0:0:1"]
)
def test_loopback_is_always_allowed(address: str) -> None:
    assert IpAllowList(()).allows(address)


@pytest.mark.parametrize("address", ["127.0.0.2", "10.0.0.1", "::2", "::ffff:127.0.0.2", "fe80::1%eth0", "junk"])
def test_others_need_a_filter(address: str) -> None:
    assert not IpAllowList(()).allows(address)


@pytest.mark.parametrize(
    ("pattern", "address", "allowed"),
    [
        ("10.0.0.5", "10.0.0.5", True),
        ("10.0.0.5", "10.0.0.50", False),
        ("10.0.0.5", "110.0.0.5", False),
        # "." is a dot, not any character.
        ("10.0.0.5", "10a0b0c5", False),
        ("10.0.0.*", "10.0.0.77", True),
        ("10.0.0.*", "10.0.1.7", False),
        ("10.*.5", "10.1.2.5", True),
        ("*", "203.0.113.9", True),
        ("*", "2001:db8::1", True),
        # IPv4 peers are also tested in their mapped form, mapped peers in their IPv4 form.
        ("::ffff:10.0.0.5", "10.0.0.5", True),
        ("10.0.0.5", "::ffff:10.0.0.5", True),
        ("10.0.0.*", "::ffff:10.0.0.9", True),
        ("::ffff:10.0.0.*", "10.0.0.9", True),
        ("::ffff:a00:5", "10.0.0.5", False),
        ("2001:db8::*", "2001:DB8::42", True),
        ("2001:db8::1", "2001:db8:0:0:0:0:0:1", True),
    ],
)
def test_patterns(pattern: str, address: str, allowed: bool) -> None:
    assert IpAllowList((pattern,)).allows(address) is allowed


def test_forms() -> None:
    assert address_forms("10.0.0.5") == {"10.0.0.5", "::ffff:10.0.0.5"}
    assert address_forms("::ffff:10.0.0.5") >= {"10.0.0.5", "::ffff:10.0.0.5"}


def test_filter_follows_new_addresses_and_logs_once_per_change() -> None:
    guard = IpFilter()
    empty: tuple[str, ...] = ()
    assert not guard.allows(empty, "10.0.0.5")
    assert guard.first_refusal("10.0.0.5")
    assert not guard.first_refusal("10.0.0.5")
    admitted = ("10.0.0.5",)
    assert guard.allows(admitted, "10.0.0.5")
    assert not guard.allows(("10.0.0.6",), "10.0.0.5")
    assert guard.first_refusal("10.0.0.5")
