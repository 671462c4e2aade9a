"""An aiohttp server that answers as upstream OIBus 3.8+'s content API does, for mixed-pair tests.

Built from upstream's content controller and engine (``POST /api/content/file`` and ``/api/content/content``):

- both routes require the query parameters ``northId`` (one value, ids separated by commas; blanks dropped)
  and ``dataSourceId``: without them the request is refused with 400 (tsoa's validation error) and nothing
  is stored;
- a file is the multipart field ``file`` (400 ``Missing file`` without it); a JSON body, whatever its shape,
  becomes ``any-content`` holding the body serialised again;
- each named North that exists (and is enabled) caches the content; an id naming no North is skipped without
  a word; the answer is 204 once every named North cached it;
- HTTP Basic credentials are required (401 otherwise); ``GET /api/engine/info`` answers the connection test.

``UpstreamReceiver`` runs in a thread of its own (the engine under test is a real process, and tests poll it
with blocking calls). Its port is assigned by the system at the first start and held by a bound, non-listening
socket for the receiver's whole life: ``go_down`` refuses connections, ``go_up`` listens on the same port again,
and no other process can take the port in between.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

__all__ = ["Cached", "UpstreamReceiver"]


@dataclass(frozen=True, slots=True)
class Cached:
    """One content a North of the receiver cached: ``any`` (a file) or ``any-content`` (JSON text)."""

    type: str
    data_source_id: str
    content: str = ""
    filename: str = ""
    file_data: bytes = b""


@dataclass
class UpstreamReceiver:
    """See the module docstring. ``norths`` are the ids of the receiver's enabled Norths."""

    norths: set[str]
    username: str = "it-user"
    password: str = "it-password"
    cached: dict[str, list[Cached]] = field(default_factory=dict)
    """North id -> what it cached, in order."""
    requests: list[tuple[str, dict[str, str], int]] = field(default_factory=list)
    """(path, query, status answered) of every request."""
    port: int = 0
    _holder: socket.socket | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None
    _site: web.SockSite | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        """Base URL of the receiver."""
        return f"http://127.0.0.1:{self.port}"

    def received(self, north_id: str) -> list[Cached]:
        """A copy of what ``north_id`` cached so far (the server thread appends)."""
        with self._lock:
            return list(self.cached.get(north_id, []))

    # --- the content API ------------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    def _targets(self, request: web.Request) -> tuple[list[str], str] | web.Response:
        """The North ids and data source of a request, or the 400 upstream's validation answers."""
        north_id = request.query.get("northId")
        data_source_id = request.query.get("dataSourceId")
        if north_id is None or data_source_id is None:
            missing = [
                name for name, value in (("northId", north_id), ("dataSourceId", data_source_id)) if value is None
            ]
            return web.json_response({"message": "Validation Failed", "details": missing}, status=400)
        return [part for part in north_id.split(",") if part.strip()], data_source_id

    def _cache(self, ids: list[str], content: Cached) -> None:
        with self._lock:
            for north_id in ids:
                if north_id in self.norths:  # an unknown id is skipped, as upstream's engine does
                    self.cached.setdefault(north_id, []).append(content)

    async def _file(self, request: web.Request) -> web.Response:
        targets = self._targets(request)
        if isinstance(targets, web.Response):
            return targets
        ids, data_source_id = targets
        found: tuple[str, bytes] | None = None
        if request.content_type.startswith("multipart/"):
            async for part in await request.multipart():
                if isinstance(part, BodyPartReader) and part.name == "file":
                    found = (part.filename or "file", bytes(await part.read()))
        if found is None:
            return web.json_response({"message": "Missing file"}, status=400)
        self._cache(ids, Cached("any", data_source_id, filename=found[0], file_data=found[1]))
        return web.Response(status=204)

    async def _content(self, request: web.Request) -> web.Response:
        targets = self._targets(request)
        if isinstance(targets, web.Response):
            return targets
        ids, data_source_id = targets
        try:
            body = json.loads(await request.read())
        except ValueError:
            return web.json_response({"message": "invalid JSON"}, status=400)
        self._cache(ids, Cached("any-content", data_source_id, content=json.dumps(body)))
        return web.Response(status=204)

    async def _info(self, request: web.Request) -> web.Response:
        return web.json_response({"version": "3.8.8", "oibusName": "upstream IT"})

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        response: web.StreamResponse = (
            await handler(request) if self._authorized(request) else web.Response(status=401, text="Unauthorized")
        )
        with self._lock:
            self.requests.append((request.path, dict(request.query), response.status))
        return response

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> UpstreamReceiver:
        """Take a port from the system, serve in a background thread; returns once listening."""
        holder = socket.socket()
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", 0))
        self._holder, self.port = holder, holder.getsockname()[1]
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def serve() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._listen())
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._unlisten())
            self._loop.close()

        self._thread = threading.Thread(target=serve, name="upstream-oibus", daemon=True)
        self._thread.start()
        if not ready.wait(20):
            raise TimeoutError("upstream receiver did not start")
        return self

    async def _listen(self) -> None:
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        app.router.add_post("/api/content/file", self._file)
        app.router.add_post("/api/content/content", self._content)
        app.router.add_get("/api/engine/info", self._info)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        listener = socket.socket()
        # Both sockets reuse the address: the listener may bind the port the non-listening holder keeps.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self._site = web.SockSite(self._runner, listener)
        await self._site.start()

    async def _unlisten(self) -> None:
        # The whole runner goes: its keep-alive connections close too, as they would in a restart.
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = self._site = None

    def _call(self, coro: Coroutine[Any, Any, None]) -> None:
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(20)

    def go_down(self) -> None:
        """Stop listening: connections are refused until ``go_up`` (a restart, as senders see it)."""
        self._call(self._unlisten())

    def go_up(self) -> None:
        """Listen again, on the same port."""
        self._call(self._listen())

    def stop(self) -> None:
        """Stop serving, join the thread and give the port back."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(20)
        if self._holder is not None:
            self._holder.close()
            self._holder = None

    def __enter__(self) -> UpstreamReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
