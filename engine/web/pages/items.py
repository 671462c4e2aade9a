"""A South's items: a table searched, sorted and paged on the server, 50 rows a page (10,000 items stay quick).

The search box and the column headers ask ``/south/{id}/items/rows`` through htmx and swap only the table
body and the pager. Everything that changes items goes to the API through ``static/items.js`` and
``static/app.js`` (``[data-api]`` buttons): enable, disable, delete, move the checked rows to a group,
create, rename and delete groups, and the CSV import (``import/check`` shows each row as new or with its
errors, then ``import`` after the operator confirms). CSV export is ``GET /api/south/{id}/items/export``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from engine.api.keys import STORE
from engine.api.util import offload
from engine.config.errors import NotFoundError
from engine.config.models import SouthConnectorLightDTO
from engine.config.south import ITEM_SORTS
from engine.web.render import page, render

routes = web.RouteTableDef()


async def light_south(request: web.Request) -> SouthConnectorLightDTO:
    """The South of the path's ``{id}`` without its items (``get_south`` would load all 10,000); 404 if unknown."""
    south_id = request.match_info["id"]
    south = next(
        (south for south in await offload(request.app[STORE].souths.list_souths) if south.id == south_id), None
    )
    if south is None:
        raise web.HTTPNotFound(text=f"South {south_id} not found")
    return south


def _page_number(request: web.Request) -> int:
    try:
        return max(int(request.query.get("page", "0")), 0)
    except ValueError:
        return 0


async def _context(request: web.Request) -> dict[str, Any]:
    south = await light_south(request)
    store = request.app[STORE]
    name = request.query.get("name", "").strip() or None
    enabled_raw = request.query.get("enabled", "")
    enabled = {"true": True, "false": False}.get(enabled_raw)
    # An unknown column or order falls back to the default rather than failing the page.
    sort = request.query.get("sort", "name")
    sort = sort if sort in ITEM_SORTS else "name"
    order = "desc" if request.query.get("order") == "desc" else "asc"
    try:
        found = await offload(
            store.souths.search_items,
            south.id,
            name=name,
            enabled=enabled,
            page=_page_number(request),
            sort=sort,
            descending=order == "desc",
        )
    except NotFoundError as err:
        raise web.HTTPNotFound(text=str(err)) from err
    return {
        "south": south,
        "found": found,
        "name": name or "",
        "enabled": enabled_raw,
        "sort": sort,
        "order": order,
        "sorts": tuple(ITEM_SORTS),
    }


@routes.get("/south/{id}/items")
@page
async def items_page(request: web.Request) -> web.Response:
    """The items table of a South with its search box, pager, groups and CSV import."""
    context = await _context(request)
    store = request.app[STORE]
    context["groups"] = await offload(store.souths.list_groups, context["south"].id)
    context["scan_modes"] = await offload(store.scan_modes.list_scan_modes)
    context["can_browse"] = await offload(store.connectors.can_browse, context["south"].type)
    return await render(request, "items.html", context)


@routes.get("/south/{id}/items/rows")
@page
async def items_rows(request: web.Request) -> web.Response:
    """Only the rows and the pager (what htmx swaps in as the search, the sort or the page changes)."""
    return await render(request, "_items_rows.html", await _context(request))
