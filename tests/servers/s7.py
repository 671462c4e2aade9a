"""A real python-snap7 S7 server on loopback for the S7 tests and benchmark (STYLE R13).

In a test: ``async with s7_server() as server:`` gives a started ``S7TestServer`` on a port the kernel assigns,
holding data blocks 1 and 2, memory (M), inputs (I) and outputs (Q), all 0. ``write`` changes their bytes from
the test; ``reads`` lists the area reads the server answered (area code, data block, start, size), so that a
test can count requests. ``stop``/``start`` drop and bring back the server on the same port, keeping the areas
(a PLC rebooting, or a network cut).

Standalone (``python tests/servers/s7.py [--port N]``, by default on a port the system assigns, printed on its
first line), it serves data block 1 of ``--size`` bytes where byte ``i`` holds ``i % 256``, until SIGTERM or
SIGINT: the benchmark runs it in its own process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import AsyncIterator
from typing import Any

from snap7.server import Server
from snap7.type import SrvArea

__all__ = ["S7TestServer", "s7_server"]

logging.getLogger("snap7").addHandler(logging.NullHandler())
logging.getLogger("snap7").propagate = False

_AREAS = {"DB": SrvArea.DB, "M": SrvArea.MK, "I": SrvArea.PE, "Q": SrvArea.PA}


class S7TestServer:
    """A snap7 ``Server`` on ``127.0.0.1:port`` with DB1, DB2, M, I and Q registered."""

    def __init__(self, port: int = 0, *, db_size: int = 256) -> None:
        self.port = port
        """0 until the first ``start``: the kernel assigns the port to the listener itself (no guessed port)."""
        self.areas: dict[tuple[str, int], bytearray] = {
            ("DB", 1): bytearray(db_size),
            ("DB", 2): bytearray(64),
            ("M", 0): bytearray(64),
            ("I", 0): bytearray(16),
            ("Q", 0): bytearray(16),
        }
        self.reads: list[tuple[int, int, int, int]] = []
        self._lock = threading.Lock()
        self._server: Server | None = None

    def start(self) -> None:
        """Listen (again) on the same port; the areas keep what they held."""
        server = Server(log=False)
        server.host = "127.0.0.1"
        for (area, number), data in self.areas.items():
            server.register_area(_AREAS[area], number, data)
        server.set_read_events_callback(self._read)
        server.start(tcp_port=self.port)
        if self.port == 0:
            assert server.server_socket is not None
            self.port = server.server_socket.getsockname()[1]
        self._server = server

    def stop(self) -> None:
        """Stop listening and drop every session."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def write(self, area: str, number: int, offset: int, data: bytes) -> None:
        """Set bytes of an area (``number``: the data block, 0 for M, I and Q)."""
        self.areas[(area, number)][offset : offset + len(data)] = data

    def read_count(self) -> int:
        """How many area reads the server answered so far."""
        with self._lock:
            return len(self.reads)

    def _read(self, event: Any) -> None:
        with self._lock:
            self.reads.append((event.EvtParam1, event.EvtParam2, event.EvtParam3, event.EvtParam4))


@contextlib.asynccontextmanager
async def s7_server(**kwargs: Any) -> AsyncIterator[S7TestServer]:
    """A started ``S7TestServer``, stopped on exit."""
    server = S7TestServer(**kwargs)
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


def main() -> None:
    """Serve DB1 filled with ``i % 256`` until SIGTERM or SIGINT (the benchmark's peer)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--size", type=int, default=4096)
    args = parser.parse_args()
    server = S7TestServer(args.port, db_size=args.size)
    server.areas[("DB", 1)][:] = bytes(i % 256 for i in range(args.size))
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    server.start()
    print(server.port, flush=True)
    done.wait()
    server.stop()


if __name__ == "__main__":
    main()
