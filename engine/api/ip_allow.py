"""IP filter matching: loopback always, ``*`` wildcards, IPv4 and IPv4-mapped IPv6 spellings of one client.

A filter is an address where ``*`` matches anything (``192.168.1.*``; ``*`` alone admits everyone). An IPv4
client is also tested in its IPv4-mapped IPv6 form and a mapped client in its IPv4 form, so ``10.0.0.5``
and ``::ffff:10.0.0.5`` match the same filters. Loopback (``127.0.0.1``, ``::1`` and their mapped forms)
is always allowed and never stored. ``engine.api.ip_filter`` applies this to every request.
"""

from __future__ import annotations

import ipaddress
import re

LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1", "::ffff:7f00:1", "0:0:0:0:0:0:0:1"})
# Decisions are cached per address; past this many distinct clients the cache stops growing.
_MAX_CACHED = 4096


def address_forms(address: str) -> set[str]:
    """The spellings of ``address`` a filter is tested against (IPv4 <-> IPv4-mapped IPv6)."""
    forms = {address, address.lower()}
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return forms
    if isinstance(parsed, ipaddress.IPv4Address):
        forms.add(f"::ffff:{parsed}")
        return forms
    forms.add(str(parsed))
    mapped = parsed.ipv4_mapped
    if mapped is not None:
        forms.update((str(mapped), f"::ffff:{mapped}"))
    return forms


def _pattern(address: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(address).replace(r"\*", ".*") + "$", re.IGNORECASE)


class IpAllowList:
    """The compiled filters of one version of the stored addresses."""

    def __init__(self, addresses: tuple[str, ...]) -> None:
        self.addresses = addresses
        self._patterns = [_pattern(address) for address in self.addresses]
        self._decisions: dict[str, bool] = {}

    def allows(self, address: str) -> bool:
        """Whether a client at ``address`` may reach the web server."""
        decision = self._decisions.get(address)
        if decision is None:
            forms = address_forms(address)
            decision = not forms.isdisjoint(LOOPBACK) or any(
                pattern.match(form) for pattern in self._patterns for form in forms
            )
            if len(self._decisions) < _MAX_CACHED:
                self._decisions[address] = decision
        return decision


class IpFilter:
    """Follows the store's addresses and remembers which refused clients were already logged."""

    def __init__(self) -> None:
        self._allow_list = IpAllowList(())
        self._logged: set[str] = set()

    def allows(self, addresses: tuple[str, ...], address: str) -> bool:
        """Whether ``address`` passes ``addresses`` (recompiled only when the store hands out a new tuple)."""
        if addresses is not self._allow_list.addresses:
            self._allow_list = IpAllowList(addresses)
            # Each filter change earns a refused client one more log line.
            self._logged.clear()
        return self._allow_list.allows(address)

    def first_refusal(self, address: str) -> bool:
        """``True`` the first time ``address`` is refused since the filters last changed (log it then)."""
        if address in self._logged or len(self._logged) >= _MAX_CACHED:
            return False
        self._logged.add(address)
        return True
