"""A South's items: a table searched, paged and filtered on the server, 50 rows a page (10,000 items stay quick).

The search box asks ``/south/{id}/items/rows`` through htmx as the operator types and swaps only the
table body and the pager; enable, disable and delete go to the API (``static/app.js`` ``[data-api]``
buttons), CSV export is the API's ``GET /api/south/{id}/items/export``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from engine.api.keys import STORE
from engine.api.util import offload
from engine.config.errors import NotFoundError
from engine.web.render import page, render

routes = web.RouteTableDef()


async def _context(request: web.Request) -> dict[str, Any]:
    south_id = request.match_info["id"]
    store = request.app[STORE]
    name = request.query.get("name", "").strip() or None
    enabled_raw = request.query.get("enabled", "")
    enabled = {"true": True, "false": False}.get(enabled_raw)
    try:
        number = max(int(request.query.get("page", "0")), 0)
    except ValueError:
        number = 0
    # The light list, not get_south: that one would load all 10,000 items to show 50.
    south = next((south for south in await offload(store.souths.list_souths) if south.id == south_id), None)
    if south is None:
        raise web.HTTPNotFound(text=f"South {south_id} not found")
    try:
        found = await offload(store.souths.search_items, south_id, name=name, enabled=enabled, page=number)
    except NotFoundError as err:
        raise web.HTTPNotFound(text=str(err)) from err
    return {
        "south": south,
        "found": found,
        "name": name or "",
        "enabled": enabled_raw,
    }


@routes.get("/south/{id}/items")
@page
async def items_page(request: web.Request) -> web.Response:
    """The items table of a South with its search box and pager."""
    return await render(request, "items.html", await _context(request))


@routes.get("/south/{id}/items/rows")
@page
async def items_rows(request: web.Request) -> web.Response:
    """Only the rows and the pager (what htmx swaps in as the search changes)."""
    return await render(request, "_items_rows.html", await _context(request))
