"""pyads' ADS test server (``AdvancedHandler``, holding named symbols) on a loopback port the kernel assigns.

pyads' handler describes symbols but no data type; ``PlcHandler`` also answers ADSIGRP_SYM_DT_INFOBYNAMEEX with
the AdsDatatypeEntry of the descriptions it is given, encoded here as TwinCAT lays them out, uploads its symbol
table as a PLC does (ADSIGRP_SYM_UPLOADINFO2, ADSIGRP_SYM_UPLOAD), and refuses a symbol
or type name it does not hold with ADS error 0x710 (symbol not found) as a PLC does. Its connections read whole
AMS frames (pyads' own take each read of at most 4096 bytes for one request).

Standalone (``python tests/servers/ads.py --symbols N``, on a port the system assigns, printed on its first line),
it serves N REAL symbols ``MAIN.v<i>`` holding ``i`` until SIGTERM or SIGINT: the benchmark runs it in its own
process.
"""

from __future__ import annotations

import argparse
import contextlib
import select
import signal
import socket
import struct
import threading
import time
from collections.abc import Iterator

from pyads import constants
from pyads.testserver import AdsTestServer, AdvancedHandler, PLCVariable
from pyads.testserver.handler import AmsPacket, AmsResponseData
from pyads.testserver.testserver import AdsClientConnection

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
        if command == constants.ADSCOMMAND_READ:
            group = struct.unpack_from("<I", request.ams_header.data)[0]
            if group in (constants.ADSIGRP_SYM_UPLOADINFO2, constants.ADSIGRP_SYM_UPLOAD):
                # pyads' handler answers with 120 blank bytes per symbol; a PLC gives each symbol's entry.
                table = b"".join(variable.get_packed_info() for variable in self._data.values())
                if group == constants.ADSIGRP_SYM_UPLOAD:
                    return _answer(request, 0, table)
                return _answer(request, 0, struct.pack("<6I", len(self._data), len(table), 0, 0, 0, 0))
        if command == constants.ADSCOMMAND_READWRITE:
            data = request.ams_header.data
            group, _offset, _read, written = struct.unpack_from("<4I", data)
            # Only a description's request writes a name (a sum read writes its binary requests).
            name = data[16 : 16 + written].decode("cp1252", errors="replace").strip("\0")
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


class _FramedConnection(AdsClientConnection):  # type: ignore[misc]  # pyads ships no type information.
    """pyads' client connection, reading whole AMS/TCP frames.

    pyads' own reads at most 4096 bytes at a time and takes each read for one request: a sum read of more than
    about 330 symbols arrives in pieces, and two requests read at once would be taken for one.
    """

    def run(self) -> None:
        self._run = True
        buffer = b""
        while self._run:
            ready, _, _ = select.select([self.client], [], [], 0.1)
            if not ready:
                continue
            try:
                chunk = self.client.recv(1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                self.client.close()
                self._run = False
                continue
            buffer += chunk
            # A frame: two reserved bytes, the length of the AMS packet, the packet.
            while len(buffer) >= 6 and len(buffer) >= 6 + struct.unpack_from("<I", buffer, 2)[0]:
                end = 6 + struct.unpack_from("<I", buffer, 2)[0]
                frame, buffer = buffer[:end], buffer[end:]
                request = self.construct_request(frame)
                self.server.request_history.append(request)
                response = self.handler.handle_request(request)
                self.client.sendall(self.construct_response(response, request))


class _FramedServer(AdsTestServer):  # type: ignore[misc]  # pyads ships no type information.
    """pyads' test server whose connections read whole frames."""

    def run(self) -> None:
        self._run = True
        self.server.listen(5)
        while self._run:
            ready, _, _ = select.select([self.server], [], [], 0.1)
            if not ready:
                continue
            try:
                client, address = self.server.accept()
            except OSError:
                continue
            connection = _FramedConnection(handler=self.handler, client=client, address=address, server=self)
            connection.daemon = True
            connection.start()
            self.clients.append(connection)


def serve(handler: AdvancedHandler, port: int) -> AdsTestServer:
    """A started server answering with ``handler`` on loopback ``port``."""
    server = _FramedServer(handler=handler, ip_address="127.0.0.1", port=port, logging=False)
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


def _serve_symbols(port: int, symbols: int) -> None:
    handler = PlcHandler()
    for index in range(symbols):
        handler.add_variable(PLCVariable(f"MAIN.v{index}", float(index), constants.ADST_REAL32, "REAL"))
    server = _FramedServer(handler=handler, ip_address="127.0.0.1", port=port, logging=False)
    # The bench reads for minutes: the server's record of every request would only grow.
    server.request_history = _Forgetful()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    server.start()
    print(f"listening {server.ip_address}:{server.server.getsockname()[1]}", flush=True)
    stop.wait()
    server.stop()
    server.join(5)


class _Forgetful(list):  # type: ignore[type-arg]
    """A request history that keeps nothing."""

    def append(self, _request: object) -> None:
        """Forget ``_request``."""


def main() -> None:
    """Serve ``--symbols`` REAL symbols ``MAIN.v<i>`` (holding ``i``) until SIGTERM/SIGINT (``bench/ads.py``)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 (default): the system assigns one, printed")
    parser.add_argument("--symbols", type=int, default=1000)
    args = parser.parse_args()
    _serve_symbols(args.port, args.symbols)


if __name__ == "__main__":
    main()
