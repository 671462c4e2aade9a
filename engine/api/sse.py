"""Server-sent events without a plugin: ``data: <json>`` frames, a blank line apart, on a ``StreamResponse``.

A stream ends when its client goes away (the next write fails, at most one interval later) or when the
application shuts down: ``LiveStreams.close`` runs in ``on_shutdown``, before aiohttp waits for in-flight
handlers, so a stopping engine is not held for aiohttp's shutdown timeout by open browser tabs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import structlog
from aiohttp import web

log = structlog.get_logger(__name__)

SSE_INTERVAL_S = 1.0
"""Upstream's cadence."""

_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    # Reverse proxies (nginx) would otherwise buffer the stream.
    "X-Accel-Buffering": "no",
}


class LiveStreams:
    """The open event streams of one application, and the signal that ends them all."""

    def __init__(self, interval_s: float = SSE_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self.closing = asyncio.Event()
        self.open = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def close(self) -> None:
        """Tell every stream to end after its current frame."""
        self.closing.set()

    async def wait_idle(self) -> None:
        """Return once no stream is open."""
        await self._idle.wait()

    async def serve(self, request: web.Request, frame: Callable[[], Awaitable[Any]]) -> web.StreamResponse:
        """Answer ``request`` with a frame of ``await frame()`` now and every interval until the end."""
        response = web.StreamResponse(headers=_HEADERS)
        await response.prepare(request)
        self.open += 1
        self._idle.clear()
        try:
            while not self.closing.is_set():
                payload = msgspec.json.encode(await frame())
                await response.write(b"data: " + payload + b"\n\n")
                try:
                    async with asyncio.timeout(self.interval_s):
                        await self.closing.wait()
                except TimeoutError:
                    pass
        except ConnectionError:
            # The client went away (aiohttp's ClientConnectionResetError is a ConnectionResetError).
            log.debug("sse_client_gone", path=request.path)
            return response
        finally:
            self.open -= 1
            if not self.open:
                self._idle.set()
        await response.write_eof()
        return response
