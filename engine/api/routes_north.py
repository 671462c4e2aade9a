"""North routes: types and manifests, connectors, and their routing rules (``transformers``)."""

from __future__ import annotations

import msgspec
from aiohttp import web

from engine.api.keys import RUNTIME, STORE
from engine.api.util import actor, json_response, no_content, offload, read_json

routes = web.RouteTableDef()


def _north_id(request: web.Request) -> str:
    return request.match_info["id"]


@routes.get("/api/north/types")
async def list_types(request: web.Request) -> web.Response:
    """Every available North type (id, name, category, description, content types)."""
    return json_response(await offload(request.app[STORE].connector_types, "north"))


@routes.get("/api/north/manifests/{type}")
async def get_manifest(request: web.Request) -> web.Response:
    """The manifest of a North type (settings JSON Schema)."""
    return json_response(await offload(request.app[STORE].connector_manifest, "north", request.match_info["type"]))


@routes.get("/api/north")
async def list_norths(request: web.Request) -> web.Response:
    """Every North (light form) with its worker state."""
    runtime = request.app[RUNTIME]
    norths = await offload(request.app[STORE].list_norths)
    return json_response(
        [msgspec.structs.replace(north, state=runtime.connector_state("north", north.id)) for north in norths]
    )


@routes.post("/api/north")
async def create_north(request: web.Request) -> web.Response:
    """Create a North; 201 with it."""
    body = await read_json(request)
    north = await offload(request.app[STORE].create_north, body, actor=actor(request))
    await request.app[RUNTIME].reconcile_north(north.id)
    state = request.app[RUNTIME].connector_state("north", north.id)
    return json_response(msgspec.structs.replace(north, state=state), status=201)


@routes.get("/api/north/{id}")
async def get_north(request: web.Request) -> web.Response:
    """One North (secrets blank) with its worker state."""
    north = await offload(request.app[STORE].north_dto, _north_id(request))
    state = request.app[RUNTIME].connector_state("north", north.id)
    return json_response(msgspec.structs.replace(north, state=state))


@routes.put("/api/north/{id}")
async def update_north(request: web.Request) -> web.Response:
    """Replace a North (``transformers`` left out: rules kept)."""
    body = await read_json(request)
    await offload(request.app[STORE].update_north, _north_id(request), body, actor=actor(request))
    await request.app[RUNTIME].reconcile_north(_north_id(request))
    return no_content()


@routes.delete("/api/north/{id}")
async def delete_north(request: web.Request) -> web.Response:
    """Delete a North (its worker stops; its cache folder stays until cleaned)."""
    await offload(request.app[STORE].delete_north, _north_id(request))
    await request.app[RUNTIME].reconcile_north(_north_id(request))
    return no_content()


@routes.post("/api/north/{id}/start")
async def start_north(request: web.Request) -> web.Response:
    """Enable a North and start its worker."""
    await offload(request.app[STORE].set_north_enabled, _north_id(request), True, actor=actor(request))
    await request.app[RUNTIME].reconcile_north(_north_id(request))
    return no_content()


@routes.post("/api/north/{id}/stop")
async def stop_north(request: web.Request) -> web.Response:
    """Disable a North and stop its worker."""
    await offload(request.app[STORE].set_north_enabled, _north_id(request), False, actor=actor(request))
    await request.app[RUNTIME].reconcile_north(_north_id(request))
    return no_content()


@routes.post("/api/north/{id}/transformers")
async def save_transformer(request: web.Request) -> web.Response:
    """Add a routing rule, or replace the one whose ``id`` the body names."""
    body = await read_json(request)
    await offload(request.app[STORE].upsert_north_transformer, _north_id(request), body, actor=actor(request))
    await request.app[RUNTIME].reconcile_north(_north_id(request))
    return no_content()


@routes.delete("/api/north/{id}/transformers/{tid}")
async def delete_transformer(request: web.Request) -> web.Response:
    """Delete a routing rule."""
    await offload(request.app[STORE].delete_north_transformer, _north_id(request), request.match_info["tid"])
    await request.app[RUNTIME].reconcile_north(_north_id(request))
    return no_content()
