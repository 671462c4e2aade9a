"""The aiohttp application of the REST API.

Adding routes: write a module with ``routes = web.RouteTableDef()`` (handlers reach shared objects only
through the keys of ``engine.api.keys``, raise our errors instead of building error JSON, and call the
store through ``offload``), then either append its table to ``ROUTE_TABLES`` below or pass it to
``create_app(..., extra_routes=[module.routes])``. Every ``/api`` route is authenticated by the middleware
unless ``engine.api.auth.PUBLIC_ROUTES`` lists it. ``engine/api/content.py`` (ingestion) plugs in this way.

Middlewares, outermost first: errors (maps raised errors to answers), the IP filter (every path, before
anything else looks at the request), authentication.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable

import structlog
from aiohttp import web

from engine.api import (
    routes_certificates,
    routes_engine,
    routes_external_sources,
    routes_ip_filters,
    routes_north,
    routes_scan_modes,
    routes_south,
    routes_south_browse,
    routes_south_csv,
    routes_transformers,
    routes_users,
)
from engine.api.auth import auth_middleware
from engine.api.credentials import CredentialCache
from engine.api.errors import error_middleware
from engine.api.ip_allow import IpFilter
from engine.api.ip_filter import ip_filter_middleware
from engine.api.keys import (
    CREDENTIALS,
    INFO,
    IP_FILTER,
    METRICS_TEXT,
    REFUSED_NAMES,
    RUNTIME,
    SANDBOX,
    STORE,
    THROTTLE,
    TOKENS,
    UI_ROUTES,
)
from engine.api.openapi import routes as openapi_routes
from engine.api.refusals import RefusedNames
from engine.api.throttle import LoginThrottle
from engine.api.tokens import TokenSigner
from engine.api.ttl_cache import TtlCache
from engine.api.util import offload
from engine.config.store import ConfigStore
from engine.config.users import DEFAULT_LOGIN
from engine.info import EngineInfo
from engine.runtime import Runtime
from engine.sandbox.client import SandboxClient

log = structlog.get_logger(__name__)

# JSON bodies up to 20 MB, as upstream: a South with 10,000 items is a few MB.
MAX_BODY_SIZE = 20 * 1024 * 1024

ROUTE_TABLES: tuple[web.RouteTableDef, ...] = (
    routes_engine.routes,
    routes_scan_modes.routes,
    # Before the South routes: ``GET .../items/export`` must not be read as ``GET .../items/{itemId}``.
    routes_south_csv.routes,
    routes_south_browse.routes,
    routes_south.routes,
    routes_north.routes,
    routes_users.routes,
    routes_ip_filters.routes,
    routes_external_sources.routes,
    routes_certificates.routes,
    routes_transformers.routes,
    openapi_routes,
)


async def _default_password_check(app: web.Application) -> AsyncIterator[None]:
    """Warn at start while ``admin``/``pass`` opens the engine (argon2 runs beside the start, not before)."""

    async def check() -> None:
        if await offload(app[STORE].users.default_password_in_use):
            log.warning("default_password_in_use", login=DEFAULT_LOGIN, fix="change it: POST /api/users/{id}/password")

    # Owned by the application: started with it, awaited at its cleanup (one argon2 verification at most).
    task = asyncio.create_task(check(), name="api:default-password-check")
    yield
    await task


async def _sandbox(app: web.Application) -> AsyncIterator[None]:
    """The custom transformer sandbox of the test routes: its process starts on the first test, stops here."""
    async with SandboxClient() as sandbox:
        app[SANDBOX] = sandbox
        yield


def create_app(
    store: ConfigStore,
    runtime: Runtime,
    info: EngineInfo,
    *,
    extra_routes: Iterable[Iterable[web.AbstractRouteDef]] = (),
    throttle: LoginThrottle | None = None,
    ui: Callable[[web.Application], None] | None = None,
) -> web.Application:
    """Build the API application; ``throttle`` defaults to 10 failed logins in 5 minutes per address.

    ``ui`` mounts the browser UI (``engine.web.setup`` in the engine): the caller passes it, so the API
    never imports the UI that builds on it. The routes it adds are kept out of the OpenAPI document.
    """
    app = web.Application(
        middlewares=[error_middleware, ip_filter_middleware, auth_middleware], client_max_size=MAX_BODY_SIZE
    )
    app[STORE] = store
    app[RUNTIME] = runtime
    app[INFO] = info
    app[CREDENTIALS] = CredentialCache()
    app[TOKENS] = TokenSigner(store.token_key)
    app[THROTTLE] = throttle if throttle is not None else LoginThrottle()
    app[IP_FILTER] = IpFilter()
    app[REFUSED_NAMES] = RefusedNames()
    app[METRICS_TEXT] = TtlCache()
    app.cleanup_ctx.append(_default_password_check)
    app.cleanup_ctx.append(_sandbox)
    for table in (*ROUTE_TABLES, *extra_routes):
        app.router.add_routes(table)
    # The browser UI shares the middlewares (IP filter first) and the port; it owns only its own paths.
    api_routes = set(app.router.routes())
    if ui is not None:
        ui(app)
    app[UI_ROUTES] = frozenset(route for route in app.router.routes() if route not in api_routes)
    return app
