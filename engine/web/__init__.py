"""The browser UI: server-rendered pages (Jinja2) with vendored htmx and uPlot, served by the API's application."""

from engine.web.app import is_web_route, setup

__all__ = ["is_web_route", "setup"]
