"""The IP filter: the first check of every request (API, ``/metrics``, ``/sse``, web UI), before authentication.

A client is let in when ``--ignoreIpFilters`` is set, when its address is loopback, or when it matches a
stored filter (``engine.api.ip_allow``). Others get 401 ``Access denied. IP ADDRESS <ip> UNAUTHORIZED``, as
upstream, and one warning per address until the filters change.

The address is the socket's peer: ``X-Forwarded-For`` is ignored, as upstream does. A change applies to the
next request: the store hands out a new tuple of addresses, which is compiled once.
"""

from __future__ import annotations

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from engine.api.errors import AddressRefused
from engine.api.keys import INFO, IP_FILTER, STORE

log = structlog.get_logger(__name__)


@web.middleware
async def ip_filter_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse clients whose address no IP filter admits, whatever the path."""
    if request.app[INFO].ignore_ip_filters:
        return await handler(request)
    # No peer address means a Unix socket: only local processes can reach one.
    address = request.remote
    if address is None:
        return await handler(request)
    guard = request.app[IP_FILTER]
    if guard.allows(request.app[STORE].ip_filters.ip_filter_addresses(), address):
        return await handler(request)
    if guard.first_refusal(address):
        log.warning("ip_address_refused", address=address, path=request.path)
    raise AddressRefused(address)
