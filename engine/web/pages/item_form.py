"""A South item's form: add or edit one item, generated from the South type's item manifest, and test it.

``static/item_form.js`` posts the typed values to ``POST /api/south/{id}/items`` (add) or ``PUT
/api/south/{id}/items/{itemId}`` (edit) and shows the API's field errors next to their inputs without
re-rendering (what was typed stays); secret inputs are never filled back (empty keeps the stored one).
"Test item" sends the typed item settings to ``POST /api/south/{id}/items/test`` and shows the values read.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from engine.api.keys import STORE
from engine.api.util import offload
from engine.config.errors import NotFoundError
from engine.config.models import SouthItemDTO
from engine.web.forms import fields
from engine.web.pages.items import light_south
from engine.web.render import page, render

routes = web.RouteTableDef()


async def _form(request: web.Request, item: SouthItemDTO | None) -> web.Response:
    south = await light_south(request)
    store = request.app[STORE]
    manifest = await offload(store.connectors.connector_manifest, "south", south.type)
    if manifest.get("items") is None:
        raise web.HTTPNotFound(text=f"South type {south.type} has no items")
    context: dict[str, Any] = {
        "south": south,
        "item": item,
        "fields": fields(manifest["items"], dict(item.settings) if item else None),
        "scan_modes": await offload(store.scan_modes.list_scan_modes),
        "groups": await offload(store.souths.list_groups, south.id),
    }
    return await render(request, "item_form.html", context)


@routes.get("/south/{id}/items/new")
@page
async def new_item(request: web.Request) -> web.Response:
    """The empty form of an item of this South's type."""
    return await _form(request, None)


@routes.get("/south/{id}/items/{itemId}/edit")
@page
async def edit_item(request: web.Request) -> web.Response:
    """The form of a stored item (secrets blank)."""
    try:
        item = await offload(request.app[STORE].souths.get_item, request.match_info["id"], request.match_info["itemId"])
    except NotFoundError as err:
        raise web.HTTPNotFound(text=str(err)) from err
    return await _form(request, item)
