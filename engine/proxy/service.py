"""Keeps the built-in proxy in line with ``proxyServer`` of the engine settings: started, changed, stopped live."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from engine.api.ip_allow import IpFilter
from engine.config.models import ProxyServerSettings
from engine.proxy.server import ProxyServer, ProxySpec

log = structlog.get_logger(__name__)


def spec_of(settings: ProxyServerSettings) -> ProxySpec | None:
    """The proxy the settings ask for (``None``: disabled)."""
    if not settings.enabled:
        return None
    forward = settings.forward
    return ProxySpec(
        port=settings.port,
        username=settings.username or None,
        password=settings.password,
        forward_url=forward.url if forward.enabled and forward.url else None,
        forward_username=forward.username or None,
        forward_password=forward.password,
    )


class ProxyService:
    """Owns the running ``ProxyServer``; ``run`` is its task, ``apply`` (any time, never blocks) its input.

    ``addresses`` returns the stored IP filters (the web server's); ``ignore_ip_filters`` admits everyone.
    A refused client address is logged once until the filters change.
    """

    def __init__(self, addresses: Callable[[], tuple[str, ...]], *, ignore_ip_filters: bool = False) -> None:
        self._addresses = addresses
        self._ignore = ignore_ip_filters
        self._guard = IpFilter()
        self._wanted: ProxySpec | None = None
        self._changed = asyncio.Event()
        self._stopping = False
        self.server: ProxyServer | None = None

    def allows(self, address: str) -> bool:
        """The IP filter of the proxy: the web server's filters, loopback always."""
        if self._ignore or self._guard.allows(self._addresses(), address):
            return True
        if self._guard.first_refusal(address):
            log.warning("proxy_address_refused", address=address)
        return False

    def apply(self, settings: ProxyServerSettings) -> None:
        """Ask for the proxy of ``settings``; ``run`` starts, restarts or stops it."""
        self._wanted = spec_of(settings)
        self._changed.set()

    async def run(self) -> None:
        """Follow ``apply`` until ``stop``; the proxy is closed when this returns."""
        try:
            while not self._stopping:
                await self._changed.wait()
                self._changed.clear()
                if not self._stopping:
                    await self._reconcile(self._wanted)
        finally:
            await self._reconcile(None)

    def stop(self) -> None:
        """End ``run`` (the proxy closes)."""
        self._stopping = True
        self._changed.set()

    async def _reconcile(self, wanted: ProxySpec | None) -> None:
        current = self.server
        if current is not None and current.spec == wanted:
            return
        if current is not None:
            self.server = None
            await current.close()
            log.info("proxy_stopped", port=current.spec.port)
        if wanted is None:
            return
        server = ProxyServer(wanted, self.allows)
        try:
            await server.start()
        except OSError as err:
            log.error("proxy_cannot_listen", port=wanted.port, error=str(err))
            return
        self.server = server
        log.info(
            "proxy_started",
            port=server.port,
            authentication=wanted.username is not None,
            forward=wanted.forward_url is not None,
        )
