"""Scan modes: the list, and a create form whose cron is checked as one types, with its next executions.

``static/scan_modes.js`` asks ``POST /api/scan-modes/verify`` on each keystroke and creates and deletes
through the API.
"""

from __future__ import annotations

from aiohttp import web

from engine.api.keys import STORE
from engine.api.util import offload
from engine.web.render import page, render

routes = web.RouteTableDef()


@routes.get("/scan-modes")
@page
async def scan_modes_page(request: web.Request) -> web.Response:
    """Every scan mode, and the form to add one."""
    modes = await offload(request.app[STORE].scan_modes.list_scan_modes)
    return await render(request, "scan_modes.html", {"modes": modes})
