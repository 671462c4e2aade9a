"""The pages of the web UI: each module holds one ``routes`` table (add a page: one module, one template, one line)."""

from __future__ import annotations

from aiohttp import web

from engine.web.pages import (
    admin,
    browse,
    cache,
    connectors,
    engine,
    history,
    home,
    item_form,
    items,
    login,
    logs,
    oianalytics,
    scan_modes,
)

PAGE_ROUTES: tuple[web.RouteTableDef, ...] = (
    login.routes,
    home.routes,
    items.routes,
    browse.routes,
    item_form.routes,
    cache.routes,
    connectors.routes,
    logs.routes,
    oianalytics.routes,
    history.routes,
    scan_modes.routes,
    engine.routes,
    admin.routes,
)
