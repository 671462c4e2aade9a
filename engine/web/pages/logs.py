"""The logs page.

The logs page is a shell: ``static/logs.js`` reads ``GET /api/logs`` with the filters the operator sets
(the API parses and checks them), pages through the answer, and tails it every two seconds unless paused.
"""

from __future__ import annotations

from aiohttp import web

from engine.logs.records import LOG_LEVELS, SCOPE_TYPES
from engine.web.render import page, render

routes = web.RouteTableDef()


@routes.get("/logs")
@page
async def logs_page(request: web.Request) -> web.Response:
    """Filters, a table filled by ``logs.js``, paging and the live tail switch."""
    return await render(request, "logs.html", {"levels": LOG_LEVELS, "scope_types": SCOPE_TYPES})
