"""Live metrics streams (reference §6.4): ``GET /sse/home``, ``/sse/engine``, ``/sse/south/{id}``, ``/sse/north/{id}``.

``text/event-stream`` with a ``data: <json>`` frame about every second, the persisted cumulative metrics of
``engine.metrics``. Authenticated like ``/api``; a browser's ``EventSource`` passes its token as ``?token=``.
An unknown connector is a 404 before the stream opens. ``install`` must run on the application that serves
these routes (it holds the metrics store and ends the streams at shutdown).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from engine.api.keys import LIVE_STREAMS, METRICS, RUNTIME, STORE
from engine.api.sse import LiveStreams
from engine.api.util import offload
from engine.metrics.store import MetricsStore

routes = web.RouteTableDef()


def install(app: web.Application, metrics: MetricsStore, streams: LiveStreams | None = None) -> None:
    """Give ``app`` the metrics store and the stream registry, and end the streams when it shuts down."""
    app[METRICS] = metrics
    app[LIVE_STREAMS] = registry = streams if streams is not None else LiveStreams()

    async def close_streams(_app: web.Application) -> None:
        registry.close()

    app.on_shutdown.append(close_streams)


@routes.get("/sse/home")
async def home_stream(request: web.Request) -> web.StreamResponse:
    """``{norths: {id: NorthMetrics}, engine: EngineMetrics, souths: {id: SouthMetrics}}`` of every connector."""
    store, metrics = request.app[STORE], request.app[METRICS]

    async def frame() -> dict[str, Any]:
        # Read each time: connectors created or deleted while the page is open appear or go.
        souths = await offload(store.souths.list_souths)
        norths = await offload(store.norths.list_norths)
        return {
            "norths": {north.id: metrics.get("north", north.id) for north in norths},
            "engine": metrics.engine(),
            "souths": {south.id: metrics.get("south", south.id) for south in souths},
        }

    return await request.app[LIVE_STREAMS].serve(request, frame)


@routes.get("/sse/engine")
async def engine_stream(request: web.Request) -> web.StreamResponse:
    """``EngineMetrics``: CPU, uptime and memory of the engine process tree."""
    metrics = request.app[METRICS]

    async def frame() -> dict[str, Any]:
        return metrics.engine()

    return await request.app[LIVE_STREAMS].serve(request, frame)


@routes.get("/sse/south/{id}")
async def south_stream(request: web.Request) -> web.StreamResponse:
    """``SouthConnectorMetrics`` of one South, with its ``state`` as in ``GET /api/south/{id}``."""
    south_id = request.match_info["id"]
    await offload(request.app[STORE].souths.south_dto, south_id)  # NotFoundError: 404
    metrics, runtime = request.app[METRICS], request.app[RUNTIME]

    async def frame() -> dict[str, Any]:
        return {**metrics.get("south", south_id), "state": runtime.connector_state("south", south_id)}

    return await request.app[LIVE_STREAMS].serve(request, frame)


@routes.get("/sse/north/{id}")
async def north_stream(request: web.Request) -> web.StreamResponse:
    """``NorthConnectorMetrics`` of one North, with its ``state`` as in ``GET /api/north/{id}``."""
    north_id = request.match_info["id"]
    await offload(request.app[STORE].norths.north_dto, north_id)  # NotFoundError: 404
    metrics, runtime = request.app[METRICS], request.app[RUNTIME]

    async def frame() -> dict[str, Any]:
        return {**metrics.get("north", north_id), "state": runtime.connector_state("north", north_id)}

    return await request.app[LIVE_STREAMS].serve(request, frame)
