"""An aiohttp server standing in for a REST target: records each request, answers a chosen status.

``async with RestTarget() as target``: ``target.url``; ``target.status = 503`` makes every answer 503;
``target.requests`` lists what arrived (method, path, query, headers, body bytes, multipart file if any).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["Received", "RestTarget"]


@dataclass(frozen=True, slots=True)
class Received:
    """One request as the target saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    file_name: str | None = None
    file_data: bytes | None = None


@dataclass
class RestTarget:
    """See the module docstring. ``record`` false keeps only a count (for benchmarks)."""

    status: int = 200
    answer: str = ""
    content_type: str = "text/plain"
    answer_headers: dict[str, str] = field(default_factory=dict)
    record: bool = True
    tls: ssl.SSLContext | None = None
    count: int = 0
    requests: list[Received] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    port: int = 0

    @property
    def url(self) -> str:
        """Base URL of the target."""
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.Response:
        self.count += 1
        if not self.record:
            await request.read()
            return self._answer()
        file_name: str | None = None
        file_data: bytes | None = None
        body = b""
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                if getattr(part, "name", None) == "file":
                    file_name = part.filename  # type: ignore[union-attr]
                    file_data = bytes(await part.read())  # type: ignore[union-attr]
        else:
            body = await request.read()
        self.requests.append(
            Received(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers=dict(request.headers),
                body=body,
                file_name=file_name,
                file_data=file_data,
            )
        )
        return self._answer()

    def _answer(self) -> web.Response:
        return web.Response(
            status=self.status, body=self.answer.encode(), content_type=self.content_type, headers=self.answer_headers
        )

    async def start(self) -> None:
        """Listen on a kernel-assigned loopback port."""
        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=self.tls)
        await site.start()
        server: Any = site._server
        self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> RestTarget:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
