"""pyads' ADS test server (``AdvancedHandler``, holding named symbols) on a loopback port the kernel assigns.

pyads' handler describes symbols but no data type; ``PlcHandler`` also answers ADSIGRP_SYM_DT_INFOBYNAMEEX with
the AdsDatatypeEntry of the descriptions it is given, encoded here as TwinCAT lays them out, and refuses a symbol
or type name it does not hold with ADS error 0x710 (symbol not found) as a PLC does.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from collections.abc import Iterator

from pyads import constants
from pyads.testserver import AdsTestServer, AdvancedHandler, PLCVariable
from pyads.testserver.handler import AmsPacket, AmsResponseData

from connectors.south.ads.datatypes import FLAG_ENUM_INFOS, DataTypeEntry

__all__ = ["ADSIGRP_SYM_DT_INFOBYNAMEEX", "PlcHandler", "ads_server", "pack_datatype"]

TARGET_PORT_NOT_FOUND = 6
"""What a TwinCAT router answers for an ADS port whose runtime is not up yet."""
SYMBOL_NOT_FOUND = 0x710
"""What a PLC answers for a symbol or type name it does not know."""
ADSIGRP_SYM_DT_INFOBYNAMEEX = 0xF011


def pack_datatype(entry: DataTypeEntry) -> bytes:
    """``entry`` as an AdsDatatypeEntry: its length, the header, the texts, bounds, fields, then enumerators."""
    name, base, comment = (text.encode("cp1252") for text in (entry.name, entry.type, entry.comment))
    flags = entry.flags | (FLAG_ENUM_INFOS if entry.enum else 0)
    header = struct.pack(
        "<7I5H", 1, 0, 0, entry.size, entry.offset, entry.ads_type, flags,
        len(name), len(base), len(comment), len(entry.array), len(entry.fields),
    )  # fmt: skip
    body = header + name + b"\0" + base + b"\0" + comment + b"\0"
    body += b"".join(struct.pack("<iI", low, length) for low, length in entry.array)
    body += b"".join(pack_datatype(item) for item in entry.fields)
    if entry.enum:
        body += struct.pack("<H", len(entry.enum))
        for label, raw in entry.enum:
            encoded = label.encode("cp1252")
            body += bytes([len(encoded)]) + encoded + b"\0" + raw
    return struct.pack("<I", 4 + len(body)) + body


class PlcHandler(AdvancedHandler):  # type: ignore[misc]  # pyads ships no type information.
    """pyads' handler, and a PLC that boots: its router answers before its runtime does.

    While ``booting`` is above zero, each state request is refused with ADS error 6 (target port not found)
    and counts it down, as a restarted PLC answers until its runtime runs.
    """

    def __init__(self) -> None:
        super().__init__()
        self.booting = 0
        self.datatypes: dict[str, DataTypeEntry] = {}

    def handle_request(self, request: AmsPacket) -> AmsResponseData:
        """Refuse a state request while booting, describe data types, else answer as pyads' handler does."""
        command = struct.unpack("<H", request.ams_header.command_id)[0]
        if command == constants.ADSCOMMAND_READSTATE and self.booting > 0:
            self.booting -= 1
            return _answer(request, TARGET_PORT_NOT_FOUND, b"")
        if command == constants.ADSCOMMAND_READWRITE:
            data = request.ams_header.data
            group, _offset, _read, written = struct.unpack_from("<4I", data)
            name = data[16 : 16 + written].decode("cp1252").strip("\0")
            if group == ADSIGRP_SYM_DT_INFOBYNAMEEX:
                entry = self.datatypes.get(name)
                if entry is None:
                    return _answer(request, SYMBOL_NOT_FOUND, b"")
                return _answer(request, 0, pack_datatype(entry))
            if group == constants.ADSIGRP_SYM_INFOBYNAMEEX and not self._holds(name):
                return _answer(request, SYMBOL_NOT_FOUND, b"")
        return super().handle_request(request)

    def _holds(self, name: str) -> bool:
        try:
            self.get_variable_by_name(name)
        except KeyError:
            return False
        return True


def _answer(request: AmsPacket, error: int, data: bytes) -> AmsResponseData:
    """A response to ``request``: the ADS result, then (read-write) the data's length and the data."""
    flags = struct.pack("<H", struct.unpack("<H", request.ams_header.state_flags)[0] | 0x0001)
    return AmsResponseData(flags, request.ams_header.error_code, struct.pack("<II", error, len(data)) + data)


def serve(handler: AdvancedHandler, port: int) -> AdsTestServer:
    """A started server answering with ``handler`` on loopback ``port``."""
    server = AdsTestServer(handler=handler, ip_address="127.0.0.1", port=port, logging=False)
    server.start()
    time.sleep(0.1)  # The listener is bound in the constructor; the accept loop starts with the thread.
    return server


@contextlib.contextmanager
def ads_server(
    variables: list[PLCVariable], datatypes: list[DataTypeEntry] | None = None
) -> Iterator[tuple[AdsTestServer, int]]:
    """A started server holding ``variables`` and describing ``datatypes``, and its port; stopped on exit."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    handler = PlcHandler()
    for variable in variables:
        handler.add_variable(variable)
    handler.datatypes = {entry.name: entry for entry in datatypes or []}
    server = serve(handler, port)
    try:
        yield server, port
    finally:
        server.stop()
        server.join(5)
