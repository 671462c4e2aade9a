"""South and North pages: the list (start/stop), the type chooser, and the create/duplicate form.

The form is generated from the type's manifest (``engine.web.forms``); ``static/connector.js`` sends it
as JSON to ``POST /api/{south|north}`` with the session's CSRF token, so the API's own validation
answers, and its field errors are shown next to the inputs without reloading (what was typed stays).
"""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web

from engine.api.keys import RUNTIME, STORE
from engine.api.util import offload
from engine.config.errors import NotFoundError
from engine.web.forms import fields
from engine.web.render import page, render

routes = web.RouteTableDef()

Kind = Literal["south", "north"]


def _kind(request: web.Request) -> Kind:
    kind = request.match_info["kind"]
    if kind == "south":
        return "south"
    if kind == "north":
        return "north"
    raise web.HTTPNotFound()


@routes.get(r"/{kind:south|north}")
@page
async def connector_list(request: web.Request) -> web.Response:
    """Every South (or North) with its state and start/stop buttons."""
    kind = _kind(request)
    store = request.app[STORE]
    found: list[Any] = (
        await offload(store.souths.list_souths) if kind == "south" else await offload(store.norths.list_norths)
    )
    rows = [
        {"connector": connector, "state": request.app[RUNTIME].connector_state(kind, connector.id).get("state", "")}
        for connector in found
    ]
    return await render(request, "connectors.html", {"kind": kind, "rows": rows})


@routes.get(r"/{kind:south|north}/new")
@page
async def choose_type(request: web.Request) -> web.Response:
    """The types a connector can be created from, each with its description."""
    kind = _kind(request)
    types = await offload(request.app[STORE].connectors.connector_types, kind)
    return await render(request, "connector_types.html", {"kind": kind, "types": types})


async def _form(request: web.Request, kind: Kind, type_name: str, source: dict[str, Any] | None) -> web.Response:
    store = request.app[STORE]
    try:
        manifest = await offload(store.connectors.connector_manifest, kind, type_name)
    except NotFoundError as err:
        raise web.HTTPNotFound(text=str(err)) from err
    settings = (source or {}).get("settings") or {}
    context: dict[str, Any] = {
        "kind": kind,
        "manifest": manifest,
        "fields": fields(manifest["settings"], settings),
        "item_fields": fields(manifest["items"], None, "items.0.settings") if kind == "south" else [],
        "scan_modes": await offload(store.scan_modes.list_scan_modes),
        "name": f"{source['name']} (copy)" if source else "",
        "description": (source or {}).get("description", ""),
    }
    return await render(request, "connector_form.html", context)


@routes.get(r"/{kind:south|north}/new/{type}")
@page
async def create_form(request: web.Request) -> web.Response:
    """The empty form of a type."""
    return await _form(request, _kind(request), request.match_info["type"], None)


@routes.get(r"/{kind:south|north}/{id}/duplicate")
@page
async def duplicate_form(request: web.Request) -> web.Response:
    """The form of a type, filled with an existing connector's settings (secrets left blank)."""
    kind = _kind(request)
    store = request.app[STORE]
    try:
        connector_id = request.match_info["id"]
        source: Any = (
            await offload(store.souths.get_south, connector_id)
            if kind == "south"
            else await offload(store.norths.get_north, connector_id)
        )
    except NotFoundError as err:
        raise web.HTTPNotFound(text=str(err)) from err
    return await _form(
        request,
        kind,
        source.type,
        {"name": source.name, "description": source.description, "settings": dict(source.settings)},
    )
