"""A fake OIBus Agent (the Windows program upstream reads OPC HDA/DA and PI through), on loopback.

It follows the contract of upstream's ``south-opc`` and ``south-pi`` connectors: one session per connector
id under ``/api/opc/<id>/`` and ``/api/pi/<id>/`` (``PUT connect``, ``GET status`` (OPC), ``PUT read``,
``DELETE disconnect``); a read answers ``{recordCount, content, maxInstantRetrieved}`` (PI adds ``logs``);
``400`` answers carry a text message. It serves generated history: every point has one value every
``step_ms`` on a grid aligned on the Unix epoch, up to ``now()`` (injectable), the value being the grid
index (``epoch ms // step_ms``), so a test knows which values a range holds. A read of ``[start, end]``
returns the values with ``start <= t <= end``; in OPC DA mode only each item's newest value up to ``end``.

``stop()``/``start()`` (or ``restart()``) drop the sessions and rebind the same port, as an agent restarted
by its service manager does. With ``hold`` (an ``asyncio.Event``) set, every read past the first
``hold_after`` waits until the event is set, or is cut by a stop: a test stops the agent mid-read.
"""

from __future__ import annotations

import asyncio
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PI_POINTS = ("SINUSOID", "SINUSOIDU", "CDT158", "BA:TEMP.1")
"""The points a PI point query can select."""


def iso(instant: datetime) -> str:
    """UTC, milliseconds, ``Z``: how the agent writes instants."""
    return instant.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ms(text: str) -> int:
    return int((datetime.fromisoformat(text).astimezone(UTC) - EPOCH).total_seconds() * 1000)


@dataclass
class Call:
    """One request the agent received."""

    method: str
    family: str
    connector_id: str
    action: str
    body: Any


@dataclass
class FakeAgent:
    """See the module docstring; ``async with FakeAgent() as agent`` runs it on a kernel-assigned port."""

    step_ms: int = 1000
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    servers: tuple[str, ...] = ("Matrikon.OPC.Simulation",)
    port: int = 0
    calls: list[Call] = field(default_factory=list)
    sessions: dict[tuple[str, str], Any] = field(default_factory=dict)
    """Open sessions: (family, connector id) -> the connect body."""
    hold: asyncio.Event | None = None
    hold_after: int = 0
    read_answer: bytes | None = None
    """When set, every read answers these bytes (status 200): a malformed answer for error tests."""
    values_served: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Base URL of the agent."""
        return f"http://127.0.0.1:{self.port}"

    def reads(self, family: str | None = None) -> list[Call]:
        """The ``read`` calls received so far (of one family)."""
        return [c for c in self.calls if c.action == "read" and (family is None or c.family == family)]

    def indexes(self, start: str, end: str) -> range:
        """Grid indexes of the values in ``[start, end]`` (ISO instants), up to ``now()``."""
        high = min(_ms(end), int((self.now() - EPOCH).total_seconds() * 1000))
        return range(-(-_ms(start) // self.step_ms), high // self.step_ms + 1)

    def _value(self, point: str, index: int) -> dict[str, Any]:
        instant = datetime.fromtimestamp(index * self.step_ms / 1000, UTC)
        return {"pointId": point, "timestamp": iso(instant), "data": {"value": index, "quality": "192"}}

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/api/{family}/{id}/{action}", self._handle)
        return app

    async def start(self) -> FakeAgent:
        """Listen (on the same port again after a stop)."""
        self._runner = web.AppRunner(self._app(), shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        if not self.port:
            self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        """Stop listening and forget every session (reads in progress are cut)."""
        runner, self._runner = self._runner, None
        self.sessions.clear()
        if runner is not None:
            await runner.cleanup()

    async def restart(self) -> None:
        """Stop, then start on the same port."""
        await self.stop()
        await self.start()

    async def __aenter__(self) -> FakeAgent:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        family, connector_id, action = (request.match_info[k] for k in ("family", "id", "action"))
        body = await request.json() if request.can_read_body else None
        self.calls.append(Call(request.method, family, connector_id, action, body))
        key = (family, connector_id)
        route = (request.method, action)
        if family not in ("opc", "pi"):
            return web.Response(status=404, text=f"no {family} driver")
        if route == ("PUT", "connect"):
            return self._connect(key, body)
        if route == ("DELETE", "disconnect"):
            self.sessions.pop(key, None)
            return web.Response(status=204)
        if key not in self.sessions:
            return web.Response(status=400, text=f"connector {connector_id} is not connected")
        if route == ("GET", "status") and family == "opc":
            return web.json_response({"serverName": self.sessions[key]["serverName"], "state": "running"})
        if route == ("PUT", "read"):
            if self.hold is not None and len(self.reads()) > self.hold_after:
                await self.hold.wait()
            if self.read_answer is not None:
                return web.Response(body=self.read_answer, content_type="application/json")
            return self._read(family, self.sessions[key], dict(body or {}))
        return web.Response(status=405, text=f"{request.method} {action} is not part of the agent's API")

    def _connect(self, key: tuple[str, str], body: Any) -> web.Response:
        if key[0] == "opc":
            if not isinstance(body, dict) or not {"host", "serverName", "mode"} <= set(body):
                return web.Response(status=400, text="connect needs host, serverName and mode")
            if body["serverName"] not in self.servers:
                return web.Response(status=400, text=f"OPC server {body['serverName']} not found on {body['host']}")
        self.sessions[key] = body
        return web.Response(status=200)

    def _read(self, family: str, session: Any, body: dict[str, Any]) -> web.Response:
        content: list[dict[str, Any]] = []
        logs: list[str] = []
        window = self.indexes(body["startTime"], body["endTime"])
        for item in body["items"]:
            if family == "opc":
                if str(item["nodeId"]).startswith("missing"):
                    return web.Response(status=400, text=f"item {item['nodeId']} does not exist")
                points = [item["name"]]
                if session["mode"] == "da":
                    window = window[-1:]
            elif item["type"] == "point-id":
                points = [item["name"]]
            else:
                pattern = str(item["piQuery"]).removeprefix("Name:=").strip("'")
                points = [name for name in PI_POINTS if fnmatch.fnmatchcase(name, pattern)]
                if not points:
                    logs.append(f"point query {item['piQuery']} selects no point")
            content.extend(self._value(point, index) for point in points for index in window)
        self.values_served += len(content)
        answer: dict[str, Any] = {
            "recordCount": len(content),
            "content": content,
            "maxInstantRetrieved": max((v["timestamp"] for v in content), default=body["startTime"]),
        }
        if family == "pi":
            answer["logs"] = logs
        return web.json_response(answer)
