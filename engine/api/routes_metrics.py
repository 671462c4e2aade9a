"""Metrics resets (reference §6.4): ``POST /api/engine/metrics/reset``, ``/api/{south,north}/{id}/metrics/reset``.

A reset sets ``metricsStart`` to now and counts again from zero (``MetricsStore.reset``); 204. An unknown
connector is a 404. The store writes the new row with its next flush (about a second later).
"""

from __future__ import annotations

from aiohttp import web

from engine.api.keys import METRICS, METRICS_TEXT, STORE
from engine.api.util import no_content, offload

routes = web.RouteTableDef()


@routes.post("/api/engine/metrics/reset")
async def reset_engine_metrics(request: web.Request) -> web.Response:
    """Restart the engine's minima and maxima from now."""
    request.app[METRICS].reset_engine()
    request.app[METRICS_TEXT].clear()  # /metrics shows the reset at once
    return no_content()


@routes.post("/api/south/{id}/metrics/reset")
async def reset_south_metrics(request: web.Request) -> web.Response:
    """Count the metrics of one South again from now."""
    south_id = request.match_info["id"]
    await offload(request.app[STORE].souths.south_dto, south_id)  # NotFoundError: 404
    request.app[METRICS].reset("south", south_id)
    request.app[METRICS_TEXT].clear()
    return no_content()


@routes.post("/api/north/{id}/metrics/reset")
async def reset_north_metrics(request: web.Request) -> web.Response:
    """Count the metrics of one North again from now (its live cache sizes stay)."""
    north_id = request.match_info["id"]
    await offload(request.app[STORE].norths.north_dto, north_id)  # NotFoundError: 404
    request.app[METRICS].reset("north", north_id)
    request.app[METRICS_TEXT].clear()
    return no_content()
