"""Explore a South's source: walk its address space one level and one page at a time, and add nodes as items.

``static/browse.js`` asks ``GET /api/south/{id}/browse`` for the children of a node when it is opened (a page
of 100, then ``More`` with the page's cursor), never the whole tree; the checked variables become DA items of
the chosen scan mode through ``POST /api/south/{id}/items``.
"""

from __future__ import annotations

from aiohttp import web

from engine.api.keys import STORE
from engine.api.util import offload
from engine.web.pages.items import light_south
from engine.web.render import page, render

routes = web.RouteTableDef()


@routes.get("/south/{id}/browse")
@page
async def browse_page(request: web.Request) -> web.Response:
    """The explorer, starting at the source's root (the Objects folder for OPC UA)."""
    store = request.app[STORE]
    south = await light_south(request)
    if not await offload(store.connectors.can_browse, south.type):
        raise web.HTTPNotFound(text=f"A {south.type} South cannot browse its source")
    modes = await offload(store.scan_modes.list_scan_modes)
    return await render(request, "browse.html", {"south": south, "scan_modes": modes})
