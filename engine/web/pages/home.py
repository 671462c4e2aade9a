"""The home dashboard: every South and North with its live state, rates, cache size; the engine's facts.

The page is rendered with the state known now; ``static/home.js`` then draws the last hour kept in
``metrics.db`` (``GET /api/engine/metrics/history``) and follows ``/sse/home`` (the same stream as the
API's, authenticated by the session cookie) to update states, rates, cache sizes, last errors and the chart.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from engine.api.keys import METRICS, RUNTIME, STORE
from engine.api.routes_sse import connector_status
from engine.api.util import offload
from engine.version import engine_version
from engine.web.render import page, render

routes = web.RouteTableDef()


def _row(request: web.Request, kind: str, connector: Any) -> dict[str, Any]:
    status = connector_status(request.app[RUNTIME], kind, connector.id)
    metrics = request.app.get(METRICS)
    counters = metrics.get("south" if kind == "south" else "north", connector.id) if metrics is not None else {}
    return {
        "id": connector.id,
        "name": connector.name,
        "type": connector.type,
        "enabled": connector.enabled,
        "state": status["state"],
        "connector_state": status["connectorState"] or "",
        "cache_size": counters.get("currentCacheSize", 0),
        "values": counters.get("numberOfValuesRetrieved", 0),
        "files": counters.get("numberOfFilesRetrieved", 0),
        "sent": counters.get("contentSentSize", 0),
        "last_error": status["lastError"] or "",
    }


@routes.get("/")
@page
async def home(request: web.Request) -> web.Response:
    """The dashboard."""
    store = request.app[STORE]
    souths = [_row(request, "south", south) for south in await offload(store.souths.list_souths)]
    norths = [_row(request, "north", north) for north in await offload(store.norths.list_norths)]
    metrics = request.app.get(METRICS)
    engine = metrics.engine() if metrics is not None else {}
    return await render(
        request,
        "home.html",
        {"souths": souths, "norths": norths, "engine": engine, "version": engine_version()},
    )
