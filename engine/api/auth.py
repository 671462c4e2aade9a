"""Basic authentication of every ``/api`` route but the public status ones.

A refused request gets 401 ``{"error": "Unauthorized", "status": 401}`` with
``WWW-Authenticate: Basic realm="Secure Area"``, as upstream. argon2 runs in a thread and only for a
pair not already in the ``CredentialCache``.
"""

from __future__ import annotations

import base64
import binascii

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from engine.api.keys import CREDENTIALS, STORE, USER
from engine.api.util import json_response, offload

log = structlog.get_logger(__name__)

PUBLIC_ROUTES = frozenset({"/api/engine/status", "/api/status"})
# Upstream left its live streams open to anyone who passes the IP filter; we authenticate them too.
PROTECTED_PREFIXES = ("/api", "/metrics", "/sse")
_READ_METHODS = frozenset({"GET", "HEAD"})


def is_public(request: web.Request) -> bool:
    """Tell whether ``request`` needs no credentials (outside ``/api``, or a public status route)."""
    path = request.path
    if not any(path == prefix or path.startswith(prefix + "/") for prefix in PROTECTED_PREFIXES):
        return True
    return request.method in _READ_METHODS and path.rstrip("/") in PUBLIC_ROUTES


def unauthorized() -> web.Response:
    """Return the upstream 401 answer."""
    return json_response(
        {"error": "Unauthorized", "status": 401},
        status=401,
        headers={"WWW-Authenticate": 'Basic realm="Secure Area"'},
    )


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    login, separator, password = decoded.partition(":")
    return (login, password) if separator and login else None


async def authenticate(request: web.Request) -> str | None:
    """Return the id of the user whose Basic credentials ``request`` carries, or ``None``."""
    credentials = _basic_credentials(request.headers.get("Authorization", ""))
    if credentials is None:
        return None
    login, password = credentials
    store, cache = request.app[STORE], request.app[CREDENTIALS]
    found = store.password_hash(login)
    if found is None:
        # Spend an argon2 verification anyway so that timing does not tell which logins exist.
        await offload(lambda: store.verify_password(cache.decoy_hash(store.hash_password), password))
        log.warning("api_authentication_failed", login=login, path=request.path)
        return None
    user_id, current_hash = found
    key = cache.key(login, password)
    if cache.matches(key, current_hash):
        return user_id
    if await offload(store.verify_password, current_hash, password):
        cache.remember(key, current_hash)
        return user_id
    log.warning("api_authentication_failed", login=login, path=request.path)
    return None


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Let public requests through; answer 401 to others without valid Basic credentials."""
    if is_public(request):
        return await handler(request)
    user_id = await authenticate(request)
    if user_id is None:
        return unauthorized()
    request[USER] = user_id
    return await handler(request)
