"""Mount the web UI on the API's application: templates, the vendored static files, the page routes.

The pages go through the same middlewares as the API (errors, IP filter), so an address outside the
IP filters is refused for pages, static files and live streams alike. Static files are served from
``engine/web/static`` (htmx and uPlot are vendored, versioned in their file names: nothing is fetched
from the Internet and nothing is built).
"""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from engine.web.pages import PAGE_ROUTES

STATIC_DIR = Path(__file__).parent / "static"
# A file-system loader, not PackageLoader: it also works in the frozen release bundle, where the
# templates are plain data files next to the code.
TEMPLATES_DIR = Path(__file__).parent / "templates"


def is_web_route(route: web.AbstractRoute) -> bool:
    """Whether ``route`` belongs to the browser UI (a page or a static file), not to the REST API."""
    return isinstance(route.resource, web.StaticResource) or route.handler.__module__.startswith("engine.web.")


def setup(app: web.Application) -> None:
    """Give ``app`` the template environment, ``/static/`` and every page route."""
    environment = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
    )
    resource = app.router.add_static("/static/", STATIC_DIR, name="static", append_version=True)

    def static(filename: str) -> str:
        # A versioned URL (``?v=<hash>``): browsers may cache it, and an upgrade changes it.
        return str(resource.url_for(filename=filename))

    environment.globals["static"] = static
    for table in PAGE_ROUTES:
        app.router.add_routes(table)
