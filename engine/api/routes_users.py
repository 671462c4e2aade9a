"""User routes (upstream paths): login token, current user, CRUD, password change.

``POST /api/users/authentication`` and ``GET /api/users/current-user`` answer for whoever the auth
middleware authenticated; upstream answers them inside its middleware, we keep them as routes (declared
before ``/api/users/{id}`` so their paths are not read as ids).
"""

from __future__ import annotations

import structlog
from aiohttp import web

from engine.api.auth import refused
from engine.api.keys import STORE, TOKENS, USER
from engine.api.tokens import TOKEN_LIFETIMES
from engine.api.util import actor, json_response, no_content, offload, query_int, read_json

log = structlog.get_logger(__name__)

routes = web.RouteTableDef()


@routes.post("/api/users/authentication")
async def login(request: web.Request) -> web.Response:
    """Trade valid credentials (Basic, or a token still valid) for a token: ``{"access_token"}``."""
    store = request.app[STORE]
    found = store.users.credentials_by_id(request[USER])
    if found is None:
        # Deleted between the middleware's check and now.
        raise refused(request)
    settings = await offload(store.engine_settings_dto)
    lifetime = settings.web_server.auth_token_duration
    token = request.app[TOKENS].issue(
        user_id=found.user_id,
        login=found.login,
        password_hash=found.password_hash,
        lifetime_s=TOKEN_LIFETIMES[lifetime],
    )
    log.info("api_login", login=found.login, address=request.remote, token_duration=lifetime)
    return json_response({"access_token": token})


@routes.get("/api/users/current-user")
async def current_user(request: web.Request) -> web.Response:
    """The authenticated user, with ``defaultPasswordInUse`` while ``admin``/``pass`` still opens the engine."""
    return json_response(await offload(request.app[STORE].users.current_user, request[USER]))


@routes.get("/api/users")
async def search_users(request: web.Request) -> web.Response:
    """One page (50) of users, by login; ``login`` filters on a part of it."""
    page = query_int(request, "page", 0)
    login = request.query.get("login") or None
    return json_response(await offload(request.app[STORE].users.search_users, login=login, page=page))


@routes.post("/api/users")
async def create_user(request: web.Request) -> web.Response:
    """Create a user (body: the profile and ``password``); 201 with it, password left out."""
    body = await read_json(request)
    return json_response(await offload(request.app[STORE].users.create_user, body, actor=actor(request)), status=201)


@routes.get("/api/users/{id}")
async def get_user(request: web.Request) -> web.Response:
    """One user."""
    return json_response(await offload(request.app[STORE].users.get_user, request.match_info["id"]))


@routes.put("/api/users/{id}")
async def update_user(request: web.Request) -> web.Response:
    """Replace a user's profile (login, names, email, language, time zone); 204."""
    body = await read_json(request)
    await offload(request.app[STORE].users.update_user, request.match_info["id"], body, actor=actor(request))
    return no_content()


@routes.delete("/api/users/{id}")
async def delete_user(request: web.Request) -> web.Response:
    """Delete a user (never the last one); its tokens and cached credentials stop working at once."""
    await offload(request.app[STORE].users.delete_user, request.match_info["id"])
    return no_content()


@routes.post("/api/users/{id}/password")
async def change_password(request: web.Request) -> web.Response:
    """Set a new password (``{currentPassword?, newPassword}``); the user's tokens stop working at once."""
    body = await read_json(request)
    await offload(request.app[STORE].users.change_password, request.match_info["id"], body, actor=actor(request))
    return no_content()
