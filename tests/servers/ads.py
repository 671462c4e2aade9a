"""pyads' ADS test server (``AdvancedHandler``, holding named symbols) on a loopback port the kernel assigns."""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from collections.abc import Iterator

from pyads import constants
from pyads.testserver import AdsTestServer, AdvancedHandler, PLCVariable
from pyads.testserver.handler import AmsPacket, AmsResponseData

__all__ = ["PlcHandler", "ads_server"]

TARGET_PORT_NOT_FOUND = 6
"""What a TwinCAT router answers for an ADS port whose runtime is not up yet."""


class PlcHandler(AdvancedHandler):  # type: ignore[misc]  # pyads ships no type information.
    """pyads' handler, and a PLC that boots: its router answers before its runtime does.

    While ``booting`` is above zero, each state request is refused with ADS error 6 (target port not found)
    and counts it down, as a restarted PLC answers until its runtime runs.
    """

    def __init__(self) -> None:
        super().__init__()
        self.booting = 0

    def handle_request(self, request: AmsPacket) -> AmsResponseData:
        """Refuse a state request while booting, else answer as pyads' handler does."""
        command = struct.unpack("<H", request.ams_header.command_id)[0]
        if command == constants.ADSCOMMAND_READSTATE and self.booting > 0:
            self.booting -= 1
            flags = struct.pack("<H", struct.unpack("<H", request.ams_header.state_flags)[0] | 0x0001)
            refused = struct.pack("<I", TARGET_PORT_NOT_FOUND) + bytes(4)
            return AmsResponseData(flags, request.ams_header.error_code, refused)
        return super().handle_request(request)


def serve(handler: AdvancedHandler, port: int) -> AdsTestServer:
    """A started server answering with ``handler`` on loopback ``port``."""
    server = AdsTestServer(handler=handler, ip_address="127.0.0.1", port=port, logging=False)
    server.start()
    time.sleep(0.1)  # The listener is bound in the constructor; the accept loop starts with the thread.
    return server


@contextlib.contextmanager
def ads_server(variables: list[PLCVariable]) -> Iterator[tuple[AdsTestServer, int]]:
    """A started server holding ``variables``, and its port; stopped on exit."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    handler = PlcHandler()
    for variable in variables:
        handler.add_variable(variable)
    server = serve(handler, port)
    try:
        yield server, port
    finally:
        server.stop()
        server.join(5)
