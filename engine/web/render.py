"""What every page shares: the session check, the CSRF check of form posts, and rendering with the base context.

A page handler is decorated with ``@page``: without a valid session cookie the browser is sent to
``/login?next=<path>``; with one, ``request[WEB_USER]`` holds the user's credentials. ``render`` adds
to the template's context the translator, the navigation bar, the CSRF token and the banner flags.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

from aiohttp import web

from engine.api.auth import bearer_credentials
from engine.api.errors import AuthenticationError
from engine.api.keys import INFO, STORE
from engine.api.session import CSRF_FIELD, SESSION_COOKIE, csrf_matches, csrf_token, foreign_origin
from engine.api.util import offload
from engine.config.users import Credentials
from engine.web.i18n import language, translate
from engine.web.nav import NAVIGATION
from engine.web.templating import TEMPLATES

WEB_USER = web.RequestKey("web_user", Credentials)
"""The user of a page request (set by ``@page``)."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def session_user(request: web.Request) -> Credentials | None:
    """The user of the request's session cookie, or None (no cookie, expired, password changed)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        return bearer_credentials(request, token)
    except AuthenticationError:
        return None


def page(handler: Handler) -> Handler:
    """Serve ``handler`` to a logged-in user only; others go to the login page, then come back."""

    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        user = session_user(request)
        if user is None:
            raise web.HTTPSeeOther(f"/login?next={quote(request.path_qs, safe='')}")
        request[WEB_USER] = user
        if request.method not in ("GET", "HEAD"):
            if foreign_origin(request):
                raise web.HTTPForbidden(text="Cross-site request refused")
            form = await request.post()
            offered = form.get(CSRF_FIELD)
            token = request.cookies[SESSION_COOKIE]
            if not isinstance(offered, str) or not csrf_matches(request.app[STORE].token_key, token, offered):
                raise web.HTTPForbidden(text="Invalid CSRF token")
        return await handler(request)

    return guarded


async def render(request: web.Request, template: str, context: Mapping[str, Any], *, status: int = 200) -> web.Response:
    """Render ``template`` with the base context (translator, navigation, CSRF token, banners)."""
    lang = language(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    user = request.get(WEB_USER)
    base: dict[str, Any] = {
        "lang": lang,
        "t": functools.partial(translate, lang),
        "nav": NAVIGATION,
        "path": request.path,
        "user": user,
        "csrf": csrf_token(request.app[STORE].token_key, token) if token and user is not None else "",
        "default_password": user is not None and await offload(request.app[STORE].users.default_password_in_use),
        # Stores the engine runs without for now (a full disk): every page says so until they are back.
        "unavailable_stores": request.app[INFO].unavailable_stores.lines() if user is not None else [],
    }
    text = request.config_dict[TEMPLATES].get(template).render({**base, **context})
    response = web.Response(text=text, status=status, content_type="text/html", charset="utf-8")
    # Pages show live, per-user data: never cached, never framed by another site.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
    return response
