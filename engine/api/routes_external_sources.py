"""External source routes (upstream 3.4's paths): the names the 3.0-3.4 and v2 ingestion paths accept."""

from __future__ import annotations

from aiohttp import web

from engine.api.keys import STORE
from engine.api.util import actor, json_response, no_content, offload, read_json

routes = web.RouteTableDef()


@routes.get("/api/external-sources")
async def list_external_sources(request: web.Request) -> web.Response:
    """Every external source."""
    return json_response(await offload(request.app[STORE].external_sources.list_external_sources))


@routes.post("/api/external-sources")
async def create_external_source(request: web.Request) -> web.Response:
    """Accept data sent under a new ``reference``; 201 with the external source."""
    body = await read_json(request)
    created = await offload(request.app[STORE].external_sources.create_external_source, body, actor=actor(request))
    return json_response(created, status=201)


@routes.get("/api/external-sources/{id}")
async def get_external_source(request: web.Request) -> web.Response:
    """One external source."""
    return json_response(
        await offload(request.app[STORE].external_sources.get_external_source, request.match_info["id"])
    )


@routes.put("/api/external-sources/{id}")
async def update_external_source(request: web.Request) -> web.Response:
    """Replace an external source's reference and description; 204."""
    body = await read_json(request)
    await offload(
        request.app[STORE].external_sources.update_external_source, request.match_info["id"], body, actor=actor(request)
    )
    return no_content()


@routes.delete("/api/external-sources/{id}")
async def delete_external_source(request: web.Request) -> web.Response:
    """Delete an external source; data sent under its reference is refused from then on."""
    await offload(request.app[STORE].external_sources.delete_external_source, request.match_info["id"])
    return no_content()
