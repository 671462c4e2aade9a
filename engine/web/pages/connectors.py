"""South and North pages: the list (start/stop), the type chooser, and the create, duplicate and edit form.

The form is generated from the type's manifest (``engine.web.forms``); ``static/connector.js`` sends it
as JSON to ``POST /api/{south|north}`` (create) or ``PUT /api/{south|north}/{id}`` (edit) with the
session's CSRF token, so the API's own validation answers, and its field errors are shown next to the
inputs without reloading: the form is never swapped, so what was typed stays. Secret inputs are never
filled back; left empty on an edit, the API keeps the stored secret. The edit form's "Test connection"
posts the typed settings to ``/api/{kind}/{id}/test/connection``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

import msgspec
from aiohttp import web

from engine.api.keys import RUNTIME, STORE
from engine.api.util import offload
from engine.cache.settings import CachingSettings
from engine.config.errors import NotFoundError
from engine.config.models import ConnectorSettingsDTO
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


@dataclass(frozen=True, slots=True)
class _Source:
    """What a form starts from: a stored connector (secrets blank) to edit or duplicate, or nothing (create)."""

    connector: ConnectorSettingsDTO | None = None
    caching: CachingSettings | None = None
    edit: bool = False


async def _form(request: web.Request, kind: Kind, type_name: str, source: _Source) -> web.Response:
    store = request.app[STORE]
    try:
        manifest = await offload(store.connectors.connector_manifest, kind, type_name)
    except NotFoundError as err:
        raise web.HTTPNotFound(text=str(err)) from err
    connector = source.connector
    name = "" if connector is None else connector.name if source.edit else f"{connector.name} (copy)"
    context: dict[str, Any] = {
        "kind": kind,
        "manifest": manifest,
        "connector": connector if source.edit else None,
        "fields": fields(manifest["settings"], dict(connector.settings) if connector else None),
        # A new South gets its first item in the same form; an edited one keeps its items (the items page).
        "item_fields": (
            fields(manifest["items"], None, "items.0.settings") if kind == "south" and not source.edit else []
        ),
        "scan_modes": await offload(store.scan_modes.list_scan_modes),
        "name": name,
        "description": connector.description if connector else "",
        "enabled": connector.enabled if connector else True,
        # The North's stored caching (no secret in it): the form changes its scan mode and archive switch and
        # sends the rest back as it was.
        "caching": msgspec.to_builtins(source.caching) if source.caching is not None else None,
    }
    return await render(request, "connector_form.html", context)


async def _stored(request: web.Request, kind: Kind) -> _Source:
    """The connector of the path's ``{id}``, secrets blank (404 for an unknown one)."""
    store, connector_id = request.app[STORE], request.match_info["id"]
    try:
        connector = await offload(store.souths.connector_settings, kind, connector_id)
        caching = (await offload(store.norths.north_dto, connector_id)).caching if kind == "north" else None
    except NotFoundError as err:
        raise web.HTTPNotFound(text=str(err)) from err
    return _Source(connector=connector, caching=caching)


@routes.get(r"/{kind:south|north}/new/{type}")
@page
async def create_form(request: web.Request) -> web.Response:
    """The empty form of a type."""
    return await _form(request, _kind(request), request.match_info["type"], _Source())


@routes.get(r"/{kind:south|north}/{id}/duplicate")
@page
async def duplicate_form(request: web.Request) -> web.Response:
    """The form of a type, filled with an existing connector's settings (secrets left blank)."""
    kind = _kind(request)
    source = await _stored(request, kind)
    assert source.connector is not None
    return await _form(request, kind, source.connector.type, source)


@routes.get(r"/{kind:south|north}/{id}/edit")
@page
async def edit_form(request: web.Request) -> web.Response:
    """The form of a stored connector, filled with its settings (secrets never: empty keeps the stored one)."""
    kind = _kind(request)
    source = replace(await _stored(request, kind), edit=True)
    assert source.connector is not None
    return await _form(request, kind, source.connector.type, source)
