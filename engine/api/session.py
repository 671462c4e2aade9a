"""The web UI's session: a Bearer token carried in an ``HttpOnly``, ``SameSite=Strict`` cookie, plus its CSRF token.

The cookie holds the same signed token ``POST /api/users/authentication`` hands out, so a session ends
when the token expires or the user's password changes, exactly like a Bearer client. A request that
authenticates with the cookie and changes anything (any method but GET/HEAD) must also carry the
session's CSRF token, in the ``X-CSRF-Token`` header or a ``csrf`` form field: a cross-site page can
neither read it nor, with ``SameSite=Strict``, even send the cookie. Such a write is also refused when
its ``Origin`` header names another site than the one it was sent to (``foreign_origin``): a second,
independent check, as the OWASP CSRF guidance recommends.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from aiohttp import web

SESSION_COOKIE = "oibus_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
_CSRF_PREFIX = b"oibus-csrf:"


def csrf_token(key: bytes, session_token: str) -> str:
    """The CSRF token of the session ``session_token`` (an HMAC: nothing to store, nothing to forge)."""
    return hmac.new(key, _CSRF_PREFIX + session_token.encode(), hashlib.sha256).hexdigest()


def csrf_matches(key: bytes, session_token: str, offered: str) -> bool:
    """Whether ``offered`` is the CSRF token of ``session_token`` (compared in constant time)."""
    return bool(offered) and hmac.compare_digest(offered.encode(), csrf_token(key, session_token).encode())


def foreign_origin(request: web.Request) -> bool:
    """Whether ``request`` carries an ``Origin`` of another site than its own ``Host`` (``null`` included).

    A browser sends ``Origin`` with every cross-site and every same-origin non-GET fetch or form post; a
    request without one (curl, an old client) is left to the CSRF token. Only the host and port are
    compared: a TLS-terminating proxy in front of the engine changes the scheme, not the site.
    """
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    return urlsplit(origin).netloc.lower() != request.host.lower()
