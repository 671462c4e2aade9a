"""Scan mode routes, and the cron check the UI calls while typing."""

from __future__ import annotations

from typing import Annotated

import msgspec
from aiohttp import web

from connectors.errors import SettingsError
from engine.api.keys import RUNTIME, STORE
from engine.api.util import actor, json_response, no_content, offload, read_json
from engine.config.validation import convert
from engine.scheduler.timing import ActivationWindow, ScanModeInterval, ScanModeType, Timing
from engine.scheduler.verify import verify_timing

routes = web.RouteTableDef()


NEXT_EXECUTIONS_MAX = 10


class VerifyBody(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Body of ``POST /api/scan-modes/verify``: a scan mode's timing, and how many runs to list.

    Upstream's ``{cron}``, or v3.10's ``type``/``interval``/``activationWindow``; ``count`` is ours (default
    upstream's 3).
    """

    type: ScanModeType = "cron"
    cron: str | None = None
    interval: ScanModeInterval | None = None
    activation_window: ActivationWindow | None = None
    count: Annotated[int, msgspec.Meta(ge=1, le=NEXT_EXECUTIONS_MAX)] = 3


@routes.get("/api/scan-modes")
async def list_scan_modes(request: web.Request) -> web.Response:
    """Every scan mode (``subscription`` included)."""
    return json_response(await offload(request.app[STORE].scan_modes.list_scan_modes))


@routes.post("/api/scan-modes/verify")
async def verify_cron(request: web.Request) -> web.Response:
    """``{isValid, errorMessage, nextExecutions, humanReadableForm}`` of a cron or an interval.

    The runs skip what the activation window excludes, as the scheduler does.
    """
    body = convert(await read_json(request), VerifyBody)
    if body.type == "cron" and body.cron is None:
        raise SettingsError({"cron": "required when type is 'cron'"})
    scan_mode = Timing(type=body.type, cron=body.cron or "", interval=body.interval, window=body.activation_window)
    return json_response((await offload(verify_timing, scan_mode, count=body.count)).to_dto())


@routes.post("/api/scan-modes")
async def create_scan_mode(request: web.Request) -> web.Response:
    """Create a scan mode; 201 with it."""
    body = await read_json(request)
    created = await offload(request.app[STORE].scan_modes.create_scan_mode, body, actor=actor(request))
    await request.app[RUNTIME].reload_scan_modes()
    return json_response(created, status=201)


@routes.get("/api/scan-modes/{id}")
async def get_scan_mode(request: web.Request) -> web.Response:
    """One scan mode."""
    return json_response(await offload(request.app[STORE].scan_modes.get_scan_mode, request.match_info["id"]))


@routes.put("/api/scan-modes/{id}")
async def update_scan_mode(request: web.Request) -> web.Response:
    """Replace a scan mode (never ``subscription``)."""
    body = await read_json(request)
    await offload(request.app[STORE].scan_modes.update_scan_mode, request.match_info["id"], body, actor=actor(request))
    await request.app[RUNTIME].reload_scan_modes()
    return no_content()


@routes.delete("/api/scan-modes/{id}")
async def delete_scan_mode(request: web.Request) -> web.Response:
    """Delete an unused scan mode (400 naming its users otherwise)."""
    await offload(request.app[STORE].scan_modes.delete_scan_mode, request.match_info["id"])
    await request.app[RUNTIME].reload_scan_modes()
    return no_content()
