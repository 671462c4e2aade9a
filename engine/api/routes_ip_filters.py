"""IP filter routes (upstream paths): a change applies to the next request, without a restart."""

from __future__ import annotations

from aiohttp import web

from engine.api.keys import STORE
from engine.api.util import actor, json_response, no_content, offload, read_json

routes = web.RouteTableDef()


@routes.get("/api/ip-filters")
async def list_ip_filters(request: web.Request) -> web.Response:
    """Every IP filter (loopback, always allowed, is not listed)."""
    return json_response(await offload(request.app[STORE].ip_filters.list_ip_filters))


@routes.post("/api/ip-filters")
async def create_ip_filter(request: web.Request) -> web.Response:
    """Admit an address (``*`` wildcards); 201 with the filter."""
    body = await read_json(request)
    return json_response(
        await offload(request.app[STORE].ip_filters.create_ip_filter, body, actor=actor(request)), status=201
    )


@routes.get("/api/ip-filters/{id}")
async def get_ip_filter(request: web.Request) -> web.Response:
    """One IP filter."""
    return json_response(await offload(request.app[STORE].ip_filters.get_ip_filter, request.match_info["id"]))


@routes.put("/api/ip-filters/{id}")
async def update_ip_filter(request: web.Request) -> web.Response:
    """Replace an IP filter's address and description; 204."""
    body = await read_json(request)
    await offload(request.app[STORE].ip_filters.update_ip_filter, request.match_info["id"], body, actor=actor(request))
    return no_content()


@routes.delete("/api/ip-filters/{id}")
async def delete_ip_filter(request: web.Request) -> web.Response:
    """Delete an IP filter; clients only it admitted are refused from their next request."""
    await offload(request.app[STORE].ip_filters.delete_ip_filter, request.match_info["id"])
    return no_content()
