"""OIAnalytics routes (upstream paths): the registration, and the commands received from OIAnalytics."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web
from aiohttp.typedefs import Handler

from engine.api.keys import INFO, OIANALYTICS
from engine.api.routes_logs import _instant, _values
from engine.api.util import json_response, no_content, offload, query_bool, query_int, read_json
from engine.config.backup import take_backup
from engine.oianalytics.models import COMMAND_STATUSES

routes = web.RouteTableDef()

_CONFIG_PREFIXES = ("/api/engine", "/api/scan-modes", "/api/south", "/api/north", "/api/users", "/api/ip-filters")
_NOT_CONFIG = ("/test", "/cache/", "/metrics", "/verify", "/restart", "/authentication", "/password")


def changes_configuration(request: web.Request) -> bool:
    """Whether a request may change what the full-config message holds (tests, caches, metrics do not)."""
    path = request.path
    return (
        request.method in ("POST", "PUT", "DELETE")
        and path.startswith(_CONFIG_PREFIXES)
        and not any(part in path for part in _NOT_CONFIG)
    )


@web.middleware
async def config_change_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """After a configuration change through the API: a new full-config message, and a configuration backup."""
    response = await handler(request)
    if response.status < 300 and changes_configuration(request):
        if request.path.startswith("/api/history-queries"):
            request.app[OIANALYTICS].history_changed()
        request.app[OIANALYTICS].config_changed()
        await offload(take_backup, request.app[INFO].data_directory)
    return response


@routes.get("/api/oianalytics/registration")
async def get_registration(request: web.Request) -> web.Response:
    """The registration: status, activation code while PENDING, settings (never a token, key or password)."""
    agent = request.app[OIANALYTICS]
    return json_response((await offload(agent.repo.registration)).to_dto())


@routes.post("/api/oianalytics/register")
async def register(request: web.Request) -> web.Response:
    """Register with OIAnalytics: new code and key pair, posted to OIAnalytics; PENDING until it is activated."""
    await request.app[OIANALYTICS].registration.register(await read_json(request))
    return no_content()


@routes.put("/api/oianalytics/registration")
async def update_registration(request: web.Request) -> web.Response:
    """Change the registration settings (``host`` stays; an empty secret keeps the stored one)."""
    await request.app[OIANALYTICS].registration.update(await read_json(request))
    return no_content()


@routes.post("/api/oianalytics/registration/test-connection")
async def test_registration(request: web.Request) -> web.Response:
    """Reach ``/api/oianalytics/oibus/status`` with the body's settings; 400 saying why it failed."""
    await request.app[OIANALYTICS].registration.test_connection(await read_json(request))
    return no_content()


@routes.post("/api/oianalytics/unregister")
async def unregister(request: web.Request) -> web.Response:
    """Forget the token locally (OIAnalytics is not told: remove the OIBus there too)."""
    await request.app[OIANALYTICS].registration.unregister()
    return no_content()


@routes.get("/api/oianalytics/commands/search")
async def search_commands(request: web.Request) -> web.Response:
    """A page of 50 commands, newest first.

    Query: ``types``, ``status`` (repeated or comma separated), ``start``, ``end`` (on the retrieval date),
    ``ack``, ``page``.
    """
    far = datetime(1970, 1, 1, tzinfo=UTC)
    start = _instant(request, "start", far) if request.query.get("start") else None
    end = _instant(request, "end", far) if request.query.get("end") else None
    page = await offload(
        request.app[OIANALYTICS].repo.search_commands,
        types=_values(request, "types"),
        statuses=_values(request, "status", COMMAND_STATUSES),
        start=start,
        end=end,
        ack=query_bool(request, "ack"),
        page=query_int(request, "page", 0),
    )
    return json_response(page)


@routes.delete("/api/oianalytics/commands/{id}")
async def delete_command(request: web.Request) -> web.Response:
    """Delete a stored command."""
    await offload(request.app[OIANALYTICS].repo.delete_command, request.match_info["id"])
    return no_content()
