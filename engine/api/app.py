"""The aiohttp application of the REST API.

Adding routes: write a module with ``routes = web.RouteTableDef()`` (handlers reach shared objects only
through the keys of ``engine.api.keys``, raise our errors instead of building error JSON, and call the
store through ``offload``), then either append its table to ``ROUTE_TABLES`` below or pass it to
``create_app(..., extra_routes=[module.routes])``. Every ``/api`` route is authenticated by the middleware
unless ``engine.api.auth.PUBLIC_ROUTES`` lists it. ``engine/api/content.py`` (ingestion) plugs in this way.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from engine.api import routes_engine, routes_north, routes_scan_modes, routes_south
from engine.api.auth import auth_middleware
from engine.api.credentials import CredentialCache
from engine.api.errors import error_middleware
from engine.api.info import EngineInfo
from engine.api.keys import CREDENTIALS, INFO, RUNTIME, STORE
from engine.config.store import ConfigStore
from engine.runtime import Runtime

# JSON bodies up to 20 MB, as upstream: a South with 10,000 items is a few MB.
MAX_BODY_SIZE = 20 * 1024 * 1024

ROUTE_TABLES: tuple[web.RouteTableDef, ...] = (
    routes_engine.routes,
    routes_scan_modes.routes,
    routes_south.routes,
    routes_north.routes,
)


def create_app(
    store: ConfigStore,
    runtime: Runtime,
    info: EngineInfo,
    *,
    extra_routes: Iterable[Iterable[web.AbstractRouteDef]] = (),
) -> web.Application:
    """Build the API application: error handling outermost, then authentication, then the routes."""
    app = web.Application(middlewares=[error_middleware, auth_middleware], client_max_size=MAX_BODY_SIZE)
    app[STORE] = store
    app[RUNTIME] = runtime
    app[INFO] = info
    app[CREDENTIALS] = CredentialCache()
    for table in (*ROUTE_TABLES, *extra_routes):
        app.router.add_routes(table)
    return app
