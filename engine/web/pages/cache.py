"""A North's cache explorer: the cache, error and archive folders, searched by name.

A shell: ``static/cache.js`` asks the API (``/api/north/{id}/cache/search``) and acts through it: view an
entry's content, retry (error → cache), archive, remove. The worker that owns the cache answers; the
page shows the API's message when it cannot (a North still starting).
"""

from __future__ import annotations

from aiohttp import web

from engine.api.keys import STORE
from engine.api.util import offload
from engine.web.render import page, render

routes = web.RouteTableDef()


@routes.get("/north/{id}/cache")
@page
async def cache_page(request: web.Request) -> web.Response:
    """The cache explorer of one North."""
    north_id = request.match_info["id"]
    north = next(
        (north for north in await offload(request.app[STORE].norths.list_norths) if north.id == north_id), None
    )
    if north is None:
        raise web.HTTPNotFound(text=f"North {north_id} not found")
    return await render(request, "cache.html", {"north": north})
