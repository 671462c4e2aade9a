"""The built-in HTTP forward proxy and the service that keeps it in line with the engine settings."""

from engine.proxy.server import ProxyServer, ProxySpec
from engine.proxy.service import ProxyService

__all__ = ["ProxyServer", "ProxyService", "ProxySpec"]
