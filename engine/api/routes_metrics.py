"""Metrics resets (reference §6.4): ``POST /api/engine/metrics/reset``, ``/api/{south,north}/{id}/metrics/reset``.

``GET /api/engine/metrics/history`` (ours) answers the last ``minutes`` (1 to 60, default 60) of throughput
and cache size that ``metrics.db`` keeps for the home dashboard's chart.

A reset sets ``metricsStart`` to now and counts again from zero (``MetricsStore.reset``); 204. An unknown
connector is a 404. The store writes the new row with its next flush (about a second later).
"""

from __future__ import annotations

from aiohttp import web

from engine.api.errors import InvalidRequest
from engine.api.keys import METRICS, METRICS_TEXT, STORE
from engine.api.util import json_response, no_content, offload, query_int
from engine.metrics.history import WINDOW_S

routes = web.RouteTableDef()

HISTORY_MINUTES_MAX = int(WINDOW_S // 60)


@routes.get("/api/engine/metrics/history")
async def metrics_history(request: web.Request) -> web.Response:
    """``{times, valuesPerSecond, filesPerSecond, cacheSize, stepS}`` of the last ``minutes``, every connector."""
    minutes = query_int(request, "minutes", HISTORY_MINUTES_MAX)
    if not 1 <= minutes <= HISTORY_MINUTES_MAX:
        raise InvalidRequest(f"Query parameter minutes must be from 1 to {HISTORY_MINUTES_MAX}, got {minutes}")
    return json_response(request.app[METRICS].series(minutes * 60.0))


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
