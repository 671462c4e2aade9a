"""North routes: types and manifests, connectors, and their routing rules (``transformers``)."""

from __future__ import annotations

from aiohttp import web

from engine.api.connector_routes import ConnectorCalls, changed, connector_routes
from engine.api.keys import STORE
from engine.api.util import actor, read_json
from engine.config.store import ConfigStore

# Types, manifests, list, create, read, start and stop; the routes below are the North's own.
routes = connector_routes(
    "north",
    ConnectorCalls(
        list_all=ConfigStore.list_norths,
        create=ConfigStore.create_north,
        read=ConfigStore.north_dto,
        set_enabled=ConfigStore.set_north_enabled,
    ),
)


@routes.put("/api/north/{id}")
async def update_north(request: web.Request) -> web.Response:
    """Replace a North (``transformers`` left out: rules kept)."""
    body = await read_json(request)
    return await changed(request, "north", request.app[STORE].update_north, body, actor=actor(request))


@routes.delete("/api/north/{id}")
async def delete_north(request: web.Request) -> web.Response:
    """Delete a North (its worker stops; its cache folder stays until cleaned)."""
    return await changed(request, "north", request.app[STORE].delete_north)


@routes.post("/api/north/{id}/transformers")
async def save_transformer(request: web.Request) -> web.Response:
    """Add a routing rule, or replace the one whose ``id`` the body names."""
    body = await read_json(request)
    return await changed(request, "north", request.app[STORE].upsert_north_transformer, body, actor=actor(request))


@routes.delete("/api/north/{id}/transformers/{tid}")
async def delete_transformer(request: web.Request) -> web.Response:
    """Delete a routing rule."""
    return await changed(request, "north", request.app[STORE].delete_north_transformer, request.match_info["tid"])
