"""A minimal HTTP proxy (asyncio streams) that records what it tunnelled or forwarded, for proxy tests.

It answers ``CONNECT host:port`` (tunnels, for HTTPS) and, with ``forward_http``, plain HTTP requests in
absolute form (``PUT http://host:port/path``: sent on in origin form with ``Connection: close``, so every
request opens a connection of its own and is recorded in ``forwarded``). With ``credentials`` set,
``Proxy-Authorization: Basic`` must match (else 407). It runs in a thread of its own so that tests driving
a real engine can stay synchronous.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import threading
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class ConnectProxy:
    """See the module docstring; ``tunnels`` lists the ``host:port`` targets tunnelled, in order."""

    credentials: tuple[str, str] | None = None
    port: int = 0
    forward_http: bool = False
    tunnels: list[str] = field(default_factory=list)
    forwarded: list[str] = field(default_factory=list)
    """``METHOD host:port/path`` of each plain HTTP request forwarded."""
    refused: list[str] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The proxy URL (without credentials)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ConnectProxy:
        """Listen in a background thread."""
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def serve() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.port))
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()
            server.close()
            self._loop.run_until_complete(server.wait_closed())
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
            self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()

        self._thread = threading.Thread(target=serve, name="connect-proxy", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise TimeoutError("proxy did not start")
        return self

    def stop(self) -> None:
        """Stop and join."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> ConnectProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = (await reader.readline()).decode("latin-1").strip()
            headers: dict[str, str] = {}
            lines: list[str] = []
            while (line := (await reader.readline()).decode("latin-1").strip()) != "":
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
                lines.append(line)
            method, _, rest = request_line.partition(" ")
            target = rest.split(" ", 1)[0]
            if method != "CONNECT" and not (self.forward_http and target.startswith("http://")):
                self.refused.append(request_line)
                writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            if self.credentials is not None:
                expected = "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
                if headers.get("proxy-authorization") != expected:
                    self.refused.append(f"{target}: bad proxy credentials")
                    writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
                    return
            if method != "CONNECT":
                await self._forward(method, target, lines, reader, writer)
                return
            host, _, port = target.rpartition(":")
            upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
            self.tunnels.append(target)
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        except (OSError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(OSError):
                writer.close()

    async def _forward(
        self, method: str, target: str, lines: list[str], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        url = urlsplit(target)
        port = url.port or 80
        upstream_reader, upstream_writer = await asyncio.open_connection(url.hostname, port)
        self.forwarded.append(f"{method} {url.hostname}:{port}{url.path}")
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        kept = [line for line in lines if not line.lower().startswith(("proxy-", "connection:", "keep-alive:"))]
        head = "\r\n".join([f"{method} {path} HTTP/1.1", *kept, "Connection: close", "", ""])
        upstream_writer.write(head.encode("latin-1"))
        await upstream_writer.drain()
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.close()
