"""The route tables the running engine serves besides ``app.ROUTE_TABLES`` (ingestion, logs, metrics, live...).

``engine.cli`` adds them when it serves, and the OpenAPI coverage test checks the same list. They are imported
on call, not with this module, to keep the engine's start-up light.
"""

from __future__ import annotations

from aiohttp import web


def extra_route_tables() -> tuple[web.RouteTableDef, ...]:
    """Every route table ``engine.cli`` passes to ``create_app(extra_routes=...)``."""
    from engine.api.content import routes as content_routes
    from engine.api.content_legacy import routes as legacy_content_routes
    from engine.api.log_relay import routes as log_relay_routes
    from engine.api.metrics import routes as metrics_routes
    from engine.api.routes_history import routes as history_routes
    from engine.api.routes_logs import routes as logs_routes
    from engine.api.routes_metrics import routes as metrics_reset_routes
    from engine.api.routes_oianalytics import routes as oianalytics_routes
    from engine.api.routes_restart import routes as restart_routes
    from engine.api.routes_sse import routes as sse_routes

    return (
        content_routes,
        metrics_routes,
        logs_routes,
        metrics_reset_routes,
        sse_routes,
        restart_routes,
        legacy_content_routes,
        log_relay_routes,
        oianalytics_routes,
        history_routes,
    )
