"""The engine page: name, port, log levels per sink and the built-in proxy, edited in one form; restart.

The form is generated from ``EngineSettings`` (the struct ``PUT /api/engine`` validates with), filled
with the stored settings (secrets never); ``static/engine.js`` sends it whole to ``PUT /api/engine`` and
puts the API's field errors next to the fields they name. A password left empty keeps the stored one.
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from engine.api.keys import STORE
from engine.api.util import offload
from engine.config.models import EngineSettings
from engine.web.forms import Field, fields
from engine.web.i18n import language
from engine.web.labels import labelled
from engine.web.render import page, render

routes = web.RouteTableDef()

SCHEMA = msgspec.json.schema(EngineSettings)
LABELS = "engine.f"
"""Catalogue prefix of the form's labels (``engine.f.logger.console.level``)."""


def engine_fields(values: dict[str, object] | None, lang: str) -> list[Field]:
    """The engine form's fields, labelled in ``lang``."""
    return labelled(fields(SCHEMA, values, ""), lang, LABELS)


@routes.get("/engine")
@page
async def engine_page(request: web.Request) -> web.Response:
    """The engine's settings form, its version, and the restart button."""
    settings = await offload(request.app[STORE].engine_settings_dto)
    values = msgspec.to_builtins(settings)
    return await render(
        request,
        "engine.html",
        {"settings": settings, "fields": engine_fields(values, language(request))},
    )
