"""Mount the web UI on the API's application: templates, the vendored static files, the page routes.

The pages go through the same middlewares as the API (errors, IP filter), so an address outside the
IP filters is refused for pages, static files and live streams alike. Static files are served from
``engine/web/static`` (htmx and uPlot are vendored, versioned in their file names: nothing is fetched
from the Internet and nothing is built).
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from engine.web.pages import PAGE_ROUTES
from engine.web.templating import TEMPLATES, Templates

STATIC_DIR = Path(__file__).parent / "static"


def is_web_route(route: web.AbstractRoute) -> bool:
    """Whether ``route`` belongs to the browser UI (a page or a static file), not to the REST API."""
    return isinstance(route.resource, web.StaticResource) or route.handler.__module__.startswith("engine.web.")


def setup(app: web.Application) -> None:
    """Give ``app`` the page templates, ``/static/`` and every page route."""
    resource = app.router.add_static("/static/", STATIC_DIR, name="static", append_version=True)

    def static(filename: str) -> str:
        # A versioned URL (``?v=<hash>``): browsers may cache it, and an upgrade changes it.
        return str(resource.url_for(filename=filename))

    app[TEMPLATES] = Templates(static)
    for table in PAGE_ROUTES:
        app.router.add_routes(table)
