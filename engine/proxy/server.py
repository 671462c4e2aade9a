"""The built-in HTTP forward proxy (reference §6.6): an isolated OIBus reaches the outside through this one.

On ``proxyServer.port`` (default 9000) when ``proxyServer.enabled``: ``CONNECT host:port`` opens a tunnel
(HTTPS and anything else over TCP), and a request with an absolute ``http://`` target is forwarded. Each
connection carries one request (``Connection: close``); a tunnel lasts until either side closes.

- **IP filter**: the web server's, loopback always allowed (``--ignoreIpFilters`` too). Others get 403.
- **Authentication** (``proxyServer.username``/``password``): ``Proxy-Authorization: Basic``, else 407
  with ``Proxy-Authenticate: Basic realm="OIBus Proxy"``. The header never travels further.
- **Upstream proxy** (``proxyServer.forward``): tunnels and requests go through it, with its own Basic
  credentials.

HTTP is parsed by h11 on both legs; bytes inside a tunnel are copied as they are.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urlsplit

import h11
import structlog

log = structlog.get_logger(__name__)

CHUNK = 64 * 1024
CONNECT_TIMEOUT_S = 30.0
HEAD_TIMEOUT_S = 30.0
REALM = 'Basic realm="OIBus Proxy"'
# Hop-by-hop headers (RFC 9110 §7.6.1) and the proxy's own credentials never travel further. Framing headers
# (Content-Length, Transfer-Encoding) do: h11 frames each leg by them.
_HOP_BY_HOP = frozenset(
    {b"connection", b"proxy-connection", b"keep-alive", b"proxy-authorization", b"proxy-authenticate", b"te",
     b"trailer", b"upgrade"}
)  # fmt: skip


class ProxyRefusal(Exception):
    """A request the proxy answers itself (status, reason, extra headers)."""

    def __init__(self, status: int, reason: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers or []


@dataclass(frozen=True, slots=True)
class ProxySpec:
    """What the proxy does: its port, its own credentials and the upstream proxy, if any."""

    port: int
    host: str | None = None
    """Address to listen on (``None``: every interface)."""
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    forward_url: str | None = None
    forward_username: str | None = None
    forward_password: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class _Upstream:
    host: str
    port: int
    authorization: bytes | None


def _basic(username: str, password: str | None) -> bytes:
    return b"Basic " + base64.b64encode(f"{username}:{password or ''}".encode())


def _host_port(authority: str, default_port: int | None) -> tuple[str, int]:
    """Split ``host:port`` (``[v6]:port`` too); ``ProxyRefusal`` 400 when it is not one."""
    host, separator, port_text = authority.rpartition(":")
    if not separator or "]" in port_text:
        host, port_text = authority, ""
    host = host.strip("[]")
    try:
        port = int(port_text) if port_text else default_port
    except ValueError:
        port = None
    if not host or port is None or not 0 < port < 65536:
        raise ProxyRefusal(400, f"bad target {authority!r}: expected host:port")
    return host, port


class ProxyServer:
    """One listening proxy; ``allows(address)`` is the IP filter. Use ``start`` and ``close``."""

    def __init__(self, spec: ProxySpec, allows: Callable[[str], bool]) -> None:
        self.spec = spec
        self.allows = allows
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._credentials = _basic(spec.username, spec.password) if spec.username else None
        self._upstream: _Upstream | None = None
        if spec.forward_url:
            parts = urlsplit(spec.forward_url if "//" in spec.forward_url else f"http://{spec.forward_url}")
            host, port = _host_port(parts.netloc.rpartition("@")[2], 80)
            auth = _basic(spec.forward_username, spec.forward_password) if spec.forward_username else None
            self._upstream = _Upstream(host, port, auth)

    @property
    def port(self) -> int:
        """The port actually listened on (useful with port 0: that of the IPv4 socket, which clients use).

        With port 0 and every interface, each address family gets its own port from the system.
        """
        assert self._server is not None, "proxy not started"
        sockets = self._server.sockets
        ipv4 = [sock for sock in sockets if sock.family == socket.AF_INET]
        port: int = (ipv4 or list(sockets))[0].getsockname()[1]
        return port

    async def start(self) -> None:
        """Listen (raises ``OSError`` when the port is taken)."""
        self._server = await asyncio.start_server(self._serve, host=self.spec.host, port=self.spec.port)

    async def close(self) -> None:
        """Stop listening and end every open connection and tunnel."""
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        conn = h11.Connection(h11.SERVER)
        try:
            await self._handle(conn, reader, writer)
        except ProxyRefusal as refusal:
            await self._refuse(conn, writer, refusal)
        except (h11.ProtocolError, TimeoutError) as err:
            await self._refuse(conn, writer, ProxyRefusal(400, f"bad request: {err}"))
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass  # The client or the target went away: nothing left to answer.
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _refuse(self, conn: h11.Connection, writer: asyncio.StreamWriter, refusal: ProxyRefusal) -> None:
        if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return  # A response has started: the connection just closes.
        body = f"{refusal.reason}\n".encode()
        headers = [
            *refusal.headers,
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        with contextlib.suppress(h11.LocalProtocolError, ConnectionError, OSError):
            for event in (h11.Response(status_code=refusal.status, headers=headers), h11.Data(data=body)):
                writer.write(conn.send(event) or b"")
            writer.write(conn.send(h11.EndOfMessage()) or b"")
            await writer.drain()

    async def _handle(self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await asyncio.wait_for(_next(conn, reader), HEAD_TIMEOUT_S)
        if not isinstance(request, h11.Request):
            return
        peer = writer.get_extra_info("peername")
        address = str(peer[0]) if peer else ""
        if address and not self.allows(address):
            raise ProxyRefusal(403, f"Access denied. IP ADDRESS {address} UNAUTHORIZED")
        self._check_credentials(request, address)
        if request.method == b"CONNECT":
            await self._tunnel(conn, request, reader, writer)
        else:
            await self._forward(conn, request, reader, writer)

    def _check_credentials(self, request: h11.Request, address: str) -> None:
        if self._credentials is None:
            return
        given = next((value for name, value in request.headers if name == b"proxy-authorization"), b"")
        if not _same_basic(given, self._credentials):
            log.info("proxy_authentication_refused", address=address, given=bool(given))
            raise ProxyRefusal(407, "Proxy authentication required", [(b"proxy-authenticate", REALM.encode())])

    async def _open(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Open a TCP connection; ``ProxyRefusal`` 502/504 naming the target when it fails."""
        try:
            return await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT_S)
        except TimeoutError as err:
            raise ProxyRefusal(504, f"{host}:{port} did not answer within {CONNECT_TIMEOUT_S:g} s") from err
        except OSError as err:
            raise ProxyRefusal(502, f"cannot reach {host}:{port}: {err.strerror or err}") from err

    async def _tunnel(
        self, conn: h11.Connection, request: h11.Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        authority = request.target.decode("ascii", "replace")
        host, port = _host_port(authority, None)
        if self._upstream is None:
            target_reader, target_writer = await self._open(host, port)
            leftover = b""
        else:
            target_reader, target_writer, leftover = await self._upstream_tunnel(authority)
        try:
            # A CONNECT has no body, but a client may still send an empty one: read up to its end.
            while not isinstance(event := await _next(conn, reader), h11.EndOfMessage):
                if not isinstance(event, h11.Data):
                    return  # The client went away.
            response = conn.send(h11.Response(status_code=200, headers=[], reason=b"Connection established"))
            writer.write(response or b"")
            early, _ = conn.trailing_data
            if early:
                target_writer.write(early)
            if leftover:
                writer.write(leftover)
            log.debug("proxy_tunnel_opened", target=authority)
            await asyncio.gather(_pipe(reader, target_writer), _pipe(target_reader, writer))
        finally:
            target_writer.close()

    async def _upstream_tunnel(self, authority: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
        """``CONNECT`` through the upstream proxy; returns its streams and any bytes it sent past its answer."""
        upstream = self._upstream
        assert upstream is not None
        target_reader, target_writer = await self._open(upstream.host, upstream.port)
        try:
            client = h11.Connection(h11.CLIENT)
            headers = [(b"host", authority.encode())]
            if upstream.authorization:
                headers.append((b"proxy-authorization", upstream.authorization))
            target_writer.write(client.send(h11.Request(method=b"CONNECT", target=authority, headers=headers)) or b"")
            target_writer.write(client.send(h11.EndOfMessage()) or b"")
            answer = await asyncio.wait_for(_next(client, target_reader), HEAD_TIMEOUT_S)
            if not isinstance(answer, h11.Response) or not 200 <= answer.status_code < 300:
                status = answer.status_code if isinstance(answer, h11.Response) else "no answer"
                raise ProxyRefusal(502, f"upstream proxy refused the tunnel to {authority} ({status})")
            return target_reader, target_writer, client.trailing_data[0]
        except BaseException:
            target_writer.close()
            raise

    async def _forward(
        self, conn: h11.Connection, request: h11.Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        target = request.target.decode("ascii", "replace")
        parts = urlsplit(target)
        if parts.scheme != "http" or not parts.netloc:
            raise ProxyRefusal(400, f"a proxy request needs an absolute http:// target, got {target[:200]!r}")
        host, port = _host_port(parts.netloc.rpartition("@")[2], 80)
        headers = [(name, value) for name, value in request.headers if name not in _HOP_BY_HOP]
        headers.append((b"connection", b"close"))
        if self._upstream is not None:
            target_reader, target_writer = await self._open(self._upstream.host, self._upstream.port)
            if self._upstream.authorization:
                headers.append((b"proxy-authorization", self._upstream.authorization))
            outgoing = target
        else:
            target_reader, target_writer = await self._open(host, port)
            outgoing = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            client = h11.Connection(h11.CLIENT)
            target_writer.write(
                client.send(h11.Request(method=request.method, target=outgoing, headers=headers)) or b""
            )
            # The request body, as it comes.
            while True:
                event = await _next(conn, reader)
                if isinstance(event, h11.Data):
                    target_writer.write(client.send(event) or b"")
                    await target_writer.drain()
                elif isinstance(event, h11.EndOfMessage):
                    target_writer.write(client.send(h11.EndOfMessage()) or b"")
                    break
                else:
                    return  # The client went away mid-body.
            await self._relay_response(conn, client, target_reader, writer)
            log.debug("proxy_request_forwarded", method=request.method.decode("ascii", "replace"), host=host)
        finally:
            target_writer.close()

    @staticmethod
    async def _relay_response(
        conn: h11.Connection, client: h11.Connection, target_reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            event = await _next(client, target_reader)
            if isinstance(event, h11.InformationalResponse):
                continue  # 100 Continue and the like: the client never asked this proxy for them.
            if isinstance(event, h11.Response):
                headers = [(name, value) for name, value in event.headers if name not in _HOP_BY_HOP]
                headers.append((b"connection", b"close"))
                writer.write(conn.send(h11.Response(status_code=event.status_code, headers=headers)) or b"")
            elif isinstance(event, h11.Data):
                writer.write(conn.send(event) or b"")
                await writer.drain()
            elif isinstance(event, h11.EndOfMessage):
                writer.write(conn.send(h11.EndOfMessage()) or b"")
                await writer.drain()
                return
            else:
                raise ProxyRefusal(502, "the target closed the connection before answering")


async def _next(conn: h11.Connection, reader: asyncio.StreamReader) -> h11.Event | type[h11.PAUSED]:
    """The next h11 event of ``conn``, reading from ``reader`` as needed."""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(CHUNK))
            continue
        return cast("h11.Event | type[h11.PAUSED]", event)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy bytes until end of stream, then half-close the other side (TLS close_notify and the like pass)."""
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


def _same_basic(given: bytes, expected: bytes) -> bool:
    """Compare Basic credentials in constant time (a malformed header is just wrong)."""
    scheme, _, encoded = given.partition(b" ")
    if scheme.lower() != b"basic":
        return False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error:
        return False
    return hmac.compare_digest(decoded, base64.b64decode(expected.partition(b" ")[2]))
