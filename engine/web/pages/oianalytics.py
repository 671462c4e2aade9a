"""The OIAnalytics page: registration form (generated from ``RegistrationSettings``), status, code, commands.

``static/oianalytics.js`` registers, updates, tests and unregisters through the API, shows the
6-character activation code while PENDING and follows the status until REGISTERED, and lists the
commands received with their status and result.
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from engine.oianalytics.models import RegistrationSettings
from engine.web.forms import fields
from engine.web.render import page, render

routes = web.RouteTableDef()

# The form's fields come from the struct the API validates with: one declaration, two uses.
_SCHEMA = msgspec.json.schema(RegistrationSettings)
_HIDDEN = frozenset({"commandPermissions"})


@routes.get("/oianalytics")
@page
async def oianalytics_page(request: web.Request) -> web.Response:
    """Registration and commands."""
    form = [field for field in fields(_SCHEMA, None, "") if field.path not in _HIDDEN]
    return await render(request, "oianalytics.html", {"fields": form})
