"""Live metrics streams (reference §6.4): ``/sse/home``, ``/sse/engine``, ``/sse/south|north|history-queries/{id}``.

``text/event-stream`` with a ``data: <json>`` frame about every second, the persisted cumulative metrics of
``engine.metrics``. Authenticated like ``/api``; a browser's ``EventSource`` passes its token as ``?token=``.
An unknown connector is a 404 before the stream opens. ``install`` must run on the application that serves
these routes (it holds the metrics store and ends the streams at shutdown).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from engine.api.keys import HISTORY, LIVE_STREAMS, METRICS, RUNTIME, STORE
from engine.api.sse import LiveStreams
from engine.api.util import offload
from engine.metrics.store import MetricsStore
from engine.runtime import Runtime

routes = web.RouteTableDef()


def connector_status(runtime: Runtime, kind: str, connector_id: str) -> dict[str, Any]:
    """``{state, connectorState, lastError}``: the worker's state, the connector's own, its last error."""
    found = runtime.connector_state(kind, connector_id)
    view = found.get("connector") or {}
    return {
        "state": found.get("state", ""),
        "connectorState": view.get("state"),
        "lastError": view.get("lastError") or found.get("lastError"),
    }


def install(app: web.Application, metrics: MetricsStore, streams: LiveStreams | None = None) -> None:
    """Give ``app`` the metrics store and the stream registry, and end the streams when it shuts down."""
    app[METRICS] = metrics
    app[LIVE_STREAMS] = registry = streams if streams is not None else LiveStreams()

    async def close_streams(_app: web.Application) -> None:
        registry.close()

    app.on_shutdown.append(close_streams)


@routes.get("/sse/home")
async def home_stream(request: web.Request) -> web.StreamResponse:
    """``{norths: {id: NorthMetrics}, engine: EngineMetrics, souths: {id: SouthMetrics}, states}`` of every connector.

    ``states`` is ours (upstream clients ignore it): ``{south: {id: status}, north: {id: status}}`` with each
    connector's ``connector_status``, so the dashboard follows states and last errors live too.
    """
    store, metrics, runtime = request.app[STORE], request.app[METRICS], request.app[RUNTIME]

    async def frame() -> dict[str, Any]:
        # Read each time: connectors created or deleted while the page is open appear or go.
        souths = await offload(store.souths.list_souths)
        norths = await offload(store.norths.list_norths)
        return {
            "norths": {north.id: metrics.get("north", north.id) for north in norths},
            "engine": metrics.engine(),
            "souths": {south.id: metrics.get("south", south.id) for south in souths},
            "states": {
                "south": {south.id: connector_status(runtime, "south", south.id) for south in souths},
                "north": {north.id: connector_status(runtime, "north", north.id) for north in norths},
            },
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


@routes.get("/sse/history-queries/{id}")
async def history_query_stream(request: web.Request) -> web.StreamResponse:
    """``HistoryQueryMetrics`` of one query: ``{status, south, north, historyMetrics}`` (progress "n of N").

    An ERRORED query's frames also carry ``error``, the reason stored with it.
    """
    history_id = request.match_info["id"]
    store, history = request.app[STORE], request.app[HISTORY]
    await offload(store.history_queries.history_status, history_id)  # NotFoundError: 404

    async def frame() -> dict[str, Any]:
        status, error = await offload(store.history_queries.history_state, history_id)
        return {"status": status, **({"error": error} if error else {}), **history.progress(history_id)}

    return await request.app[LIVE_STREAMS].serve(request, frame)
