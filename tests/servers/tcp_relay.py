"""A TCP relay standing in for a NAT or firewall between two machines: the target sees another client address.

Every connection accepted on ``127.0.0.1:<port>`` is forwarded to ``target`` from ``source`` (for example
``127.0.0.2``), so an engine on loopback sees a client that is not loopback and applies its IP filters. When
the target is down the client's connection is closed at once, as a dropped route would.
"""

from __future__ import annotations

import selectors
import socket
import socketserver
import threading
from types import TracebackType


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        try:
            upstream = socket.create_connection(self.server.target, timeout=5, source_address=(self.server.source, 0))
        except OSError:
            return
        client: socket.socket = self.request
        with upstream, self.server.track(client), self.server.track(upstream):
            upstream.settimeout(None)
            selector = selectors.DefaultSelector()
            selector.register(client, selectors.EVENT_READ, upstream)
            selector.register(upstream, selectors.EVENT_READ, client)
            open_sides = 2
            try:
                while open_sides:
                    for key, _ in selector.select(timeout=1.0):
                        source: socket.socket = key.fileobj  # type: ignore[assignment]
                        sink: socket.socket = key.data
                        data = source.recv(65536)
                        if data:
                            sink.sendall(data)
                            continue
                        selector.unregister(source)
                        open_sides -= 1
                        sink.shutdown(socket.SHUT_WR)
            except OSError:
                return
            finally:
                selector.close()


class _Tracked:
    def __init__(self, server: _Server, sock: socket.socket) -> None:
        self.server, self.sock = server, sock

    def __enter__(self) -> None:
        with self.server.lock:
            self.server.open.add(self.sock)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        with self.server.lock:
            self.server.open.discard(self.sock)


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, target: tuple[str, int], source: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.target = target
        self.source = source
        self.lock = threading.Lock()
        self.open: set[socket.socket] = set()

    def track(self, sock: socket.socket) -> _Tracked:
        return _Tracked(self, sock)


class TcpRelay:
    """``with TcpRelay(("127.0.0.1", port), source="127.0.0.2") as relay:`` then connect to ``relay.port``."""

    def __init__(self, target: tuple[str, int], *, source: str) -> None:
        self._server = _Server(target, source)
        self._thread = threading.Thread(target=self._server.serve_forever, name="tcp-relay", daemon=True)

    @property
    def port(self) -> int:
        port: int = self._server.server_address[1]
        return port

    def __enter__(self) -> TcpRelay:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        with self._server.lock:
            for sock in list(self._server.open):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    continue
        self._thread.join(10)
