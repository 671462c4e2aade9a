"""pyads' ADS test server (``AdvancedHandler``, holding named symbols) on a loopback port the kernel assigns."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

from pyads.testserver import AdsTestServer, AdvancedHandler, PLCVariable

__all__ = ["ads_server"]


@contextlib.contextmanager
def ads_server(variables: list[PLCVariable]) -> Iterator[tuple[AdsTestServer, int]]:
    """A started server holding ``variables``, and its port; stopped on exit."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    handler = AdvancedHandler()
    for variable in variables:
        handler.add_variable(variable)
    server = AdsTestServer(handler=handler, ip_address="127.0.0.1", port=port, logging=False)
    server.start()
    time.sleep(0.1)  # The listener is bound in the constructor; the accept loop starts with the thread.
    try:
        yield server, port
    finally:
        server.stop()
        server.join(5)
