"""Authentication of every ``/api``, ``/metrics`` and ``/sse`` request but the public status routes.

Accepted, as upstream (reference §6.3):

- ``Authorization: Basic``: argon2, run in a thread and only for a pair not already in the
  ``CredentialCache``; failures count per client address and login (``LoginThrottle``: 429 once too many).
- ``Authorization: Bearer <token>``: a token from ``POST /api/users/authentication`` (``engine.api.tokens``).
- ``?token=<token>`` on ``GET /sse/...`` only: a browser ``EventSource`` cannot send headers. Upstream
  left ``/sse`` open to anyone past the IP filter; we authenticate it.
- The web UI's session cookie (``engine.api.session``): a token too; a write must also carry the
  session's CSRF token in ``X-CSRF-Token`` and no ``Origin`` of another site.

Refusals, as upstream: no or bad credentials → 401 ``{"error": "Unauthorized", "status": 401}`` with
``WWW-Authenticate: Basic realm="Secure Area"``; a malformed, forged or expired token → 403 ``Invalid
token``; a well-signed token whose user is gone or whose password changed since → 401, like bad
credentials. On the login route itself every refusal is 403 (``Invalid credentials``) without
``WWW-Authenticate``, so a browser shows no password dialog of its own.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from engine.api.errors import AuthenticationError
from engine.api.keys import CREDENTIALS, STORE, THROTTLE, TOKENS, USER
from engine.api.session import CSRF_HEADER, SESSION_COOKIE, csrf_matches, foreign_origin
from engine.api.tokens import BadToken
from engine.api.util import offload
from engine.config.users import Credentials

log = structlog.get_logger(__name__)

LOGIN_ROUTE = "/api/users/authentication"
PUBLIC_ROUTES = frozenset({"/api/engine/status", "/api/status"})
# Upstream left its live streams open to anyone who passes the IP filter; we authenticate them too.
PROTECTED_PREFIXES = ("/api", "/metrics", "/sse")
# Older OIBus senders post data to /engine/addValues|addFile (v2) and logs to /logs: writes there need
# credentials too, while reads stay free for the web UI's own pages of the same names.
PROTECTED_WRITE_PREFIXES = ("/engine", "/logs")
_READ_METHODS = frozenset({"GET", "HEAD"})


def under(path: str, prefixes: tuple[str, ...]) -> bool:
    """Whether ``path`` is one of ``prefixes`` or below one of them."""
    return any(path == prefix or path.startswith(prefix + "/") for prefix in prefixes)


def is_public(request: web.Request) -> bool:
    """Tell whether ``request`` needs no credentials (outside the protected paths, or a public status route)."""
    path = request.path
    if request.method not in _READ_METHODS and under(path, PROTECTED_WRITE_PREFIXES):
        return False
    if not under(path, PROTECTED_PREFIXES):
        return True
    return request.method in _READ_METHODS and path.rstrip("/") in PUBLIC_ROUTES


def refused(request: web.Request) -> AuthenticationError:
    """The error for missing or wrong credentials: 401 with a challenge, 403 without on the login route."""
    if request.path == LOGIN_ROUTE:
        return AuthenticationError("Invalid credentials", 403, challenge=False)
    return AuthenticationError("Unauthorized", 401, challenge=True)


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


async def authenticate(request: web.Request) -> Credentials:
    """Return the credentials of the user ``request`` proves to be; raise ``AuthenticationError`` otherwise."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic"):
        return await _basic(request, header)
    if header.startswith("Bearer"):
        return _bearer(request, header.removeprefix("Bearer").strip())
    token = request.query.get("token")
    if token and request.method == "GET" and request.path.startswith("/sse/"):
        return _bearer(request, token)
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        if request.method not in _READ_METHODS and foreign_origin(request):
            raise AuthenticationError("Cross-site request refused", 403, challenge=False)
        if request.method not in _READ_METHODS and not csrf_matches(
            request.app[STORE].token_key, session, request.headers.get(CSRF_HEADER, "")
        ):
            raise AuthenticationError("Invalid CSRF token", 403, challenge=False)
        return _bearer(request, session)
    raise refused(request)


async def verify_login(request: web.Request, login: str, password: str) -> Credentials:
    """Check a login and password typed into the web UI, throttled and cached like Basic credentials."""
    pair = base64.b64encode(f"{login}:{password}".encode()).decode()
    return await _basic(request, f"Basic {pair}")


async def _basic(request: web.Request, header: str) -> Credentials:
    pair = _basic_credentials(header)
    if pair is None:
        raise refused(request)
    address = request.remote or ""
    throttle = request.app[THROTTLE]
    login, password = pair
    wait = throttle.retry_after(address, login)
    if wait is not None:
        raise AuthenticationError("Too many failed logins", 429, challenge=False, retry_after=wait)
    found = request.app[STORE].users.credentials_by_login(login)
    cache = request.app[CREDENTIALS]
    key = cache.key(login, password)
    if found is not None and cache.matches(key, found.password_hash):
        return found
    if not await _verify(request, address, key, found, login, password):
        log.warning("api_authentication_failed", login=login, address=address, path=request.path)
        raise refused(request)
    assert found is not None  # _verify never accepts an unknown login
    return found


async def _verify(
    request: web.Request, address: str, key: bytes, found: Credentials | None, login: str, password: str
) -> bool:
    """argon2-verify a pair once, however many requests carry it at the same time; count failures."""
    store, cache, throttle = request.app[STORE], request.app[CREDENTIALS], request.app[THROTTLE]
    pending_key = (key, found.password_hash if found is not None else "")
    pending = cache.pending.get(pending_key)
    if pending is not None:
        # Shielded: this request going away must not cancel the verification others wait for.
        return await asyncio.shield(pending)
    wait = throttle.reserve(address, login)
    if wait is not None:
        raise AuthenticationError("Too many failed logins", 429, challenge=False, retry_after=wait)
    outcome: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    cache.pending[pending_key] = outcome
    matched = False
    try:
        if found is None:
            # Spend an argon2 verification anyway so that timing does not tell which logins exist.
            await offload(store.users.verify_password, cache.decoy_hash(store.users.hash_password), password)
        else:
            matched = await offload(store.users.verify_password, found.password_hash, password)
            if matched:
                cache.remember(key, found.password_hash)
    finally:
        del cache.pending[pending_key]
        # Waiters of a verification that did not finish are refused: their client may try again.
        outcome.set_result(matched)
        if throttle.release(address, login, succeeded=matched):
            log.warning(
                "api_login_locked_out",
                address=address,
                login=login,
                failures=throttle.max_failures,
                window_s=throttle.window_s,
                lockout_s=throttle.retry_after(address, login),
            )
    return matched


def bearer_credentials(request: web.Request, token: str) -> Credentials:
    """The user a token proves to be (still valid, password unchanged); ``AuthenticationError`` otherwise."""
    return _bearer(request, token)


def _bearer(request: web.Request, token: str) -> Credentials:
    signer = request.app[TOKENS]
    try:
        claims = signer.verify(token)
    except BadToken as err:
        log.info("api_token_refused", reason=str(err), path=request.path)
        raise AuthenticationError("Invalid token", 403, challenge=request.path != LOGIN_ROUTE) from err
    found = request.app[STORE].users.credentials_by_id(claims.sub)
    if found is None or not hmac.compare_digest(claims.pwd.encode(), signer.fingerprint(found.password_hash).encode()):
        log.info("api_token_outdated", user_id=claims.sub, login=claims.login, path=request.path)
        raise refused(request)
    return found


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Let public requests through; refuse others without valid credentials; record who asks."""
    if is_public(request):
        return await handler(request)
    request[USER] = (await authenticate(request)).user_id
    return await handler(request)
