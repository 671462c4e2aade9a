"""Login, logout and the language switch.

The login form is protected against login CSRF by a double-submit token: a random value in a
``SameSite=Strict`` cookie that the form must echo. A successful login sets the session cookie (the
API's signed token, ``HttpOnly``, ``SameSite=Strict``, ``Secure`` over HTTPS) for the token's lifetime.
"""

from __future__ import annotations

import hmac
import secrets

import structlog
from aiohttp import web

from engine.api.auth import verify_login
from engine.api.errors import AuthenticationError
from engine.api.keys import STORE, TOKENS
from engine.api.session import CSRF_FIELD, SESSION_COOKIE, foreign_origin
from engine.api.tokens import TOKEN_LIFETIMES
from engine.api.util import offload
from engine.web.i18n import CATALOGUE, LANG_COOKIE
from engine.web.render import page, render

log = structlog.get_logger(__name__)

routes = web.RouteTableDef()

LOGIN_CSRF_COOKIE = "oibus_login_csrf"


def safe_next(target: str | None) -> str:
    """Where to go after login: a path of this site only (never ``//host`` or ``https://...``)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def _login_form(request: web.Request, *, error: str = "", login: str = "", status: int = 200) -> web.Response:
    nonce = secrets.token_urlsafe(24)
    response = await render(
        request,
        "login.html",
        {"error": error, "login": login, "login_csrf": nonce, "next": safe_next(request.query.get("next"))},
        status=status,
    )
    response.set_cookie(LOGIN_CSRF_COOKIE, nonce, httponly=True, samesite="Strict", secure=request.secure, path="/")
    return response


@routes.get("/login")
async def login_page(request: web.Request) -> web.Response:
    """The login form."""
    return await _login_form(request)


@routes.post("/login")
async def login_submit(request: web.Request) -> web.StreamResponse:
    """Check the login form and open a session, or show the form again with the reason."""
    if foreign_origin(request):
        raise web.HTTPForbidden(text="Cross-site request refused")
    form = await request.post()
    login = str(form.get("login", ""))
    password = str(form.get("password", ""))
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    offered = str(form.get(CSRF_FIELD, ""))
    if not expected or not hmac.compare_digest(expected.encode(), offered.encode()):
        return await _login_form(request, error="login.expired", login=login, status=403)
    try:
        user = await verify_login(request, login, password)
    except AuthenticationError as err:
        reason = "login.throttled" if err.status == 429 else "login.refused"
        return await _login_form(request, error=reason, login=login, status=err.status)
    settings = await offload(request.app[STORE].engine_settings_dto)
    lifetime = TOKEN_LIFETIMES[settings.web_server.auth_token_duration]
    token = request.app[TOKENS].issue(
        user_id=user.user_id, login=user.login, password_hash=user.password_hash, lifetime_s=lifetime
    )
    log.info("web_login", login=user.login, address=request.remote)
    response = web.HTTPSeeOther(safe_next(str(form.get("next", "/"))))
    response.set_cookie(
        SESSION_COOKIE, token, httponly=True, samesite="Strict", secure=request.secure, path="/", max_age=lifetime
    )
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/")
    raise response


@routes.post("/logout")
@page
async def logout(request: web.Request) -> web.StreamResponse:
    """End the session (the CSRF token is checked by ``@page``)."""
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


@routes.get("/language/{lang}")
async def choose_language(request: web.Request) -> web.StreamResponse:
    """Remember the chosen language and go back to the page."""
    lang = request.match_info["lang"]
    if lang not in CATALOGUE:
        raise web.HTTPNotFound(text=f"unknown language {lang}")
    response = web.HTTPSeeOther(safe_next(request.query.get("next")))
    response.set_cookie(LANG_COOKIE, lang, samesite="Strict", secure=request.secure, path="/", max_age=365 * 86400)
    raise response
