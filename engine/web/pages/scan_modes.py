"""Scan modes: the list, and a form for a cron or an interval, with an optional activation window.

The cron is checked as one types, with its next executions; the window is a date range, days of week and
a time of day in a time zone.

``static/scan_modes.js`` asks ``POST /api/scan-modes/verify`` on each keystroke and creates, edits and
deletes through the API.
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from engine.api.keys import STORE
from engine.api.util import offload
from engine.web.render import page, render

routes = web.RouteTableDef()


@routes.get("/scan-modes")
@page
async def scan_modes_page(request: web.Request) -> web.Response:
    """Every scan mode, and the form to add one."""
    modes = msgspec.to_builtins(await offload(request.app[STORE].scan_modes.list_scan_modes))
    return await render(request, "scan_modes.html", {"modes": modes, "weekdays": WEEKDAYS})


WEEKDAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")
"""Upstream numbers days 0 (Sunday) to 6 (Saturday)."""
