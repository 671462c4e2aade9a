"""The web UI's session: a Bearer token carried in an ``HttpOnly``, ``SameSite=Strict`` cookie, plus its CSRF token.

The cookie holds the same signed token ``POST /api/users/authentication`` hands out, so a session ends
when the token expires or the user's password changes, exactly like a Bearer client. A request that
authenticates with the cookie and changes anything (any method but GET/HEAD) must also carry the
session's CSRF token, in the ``X-CSRF-Token`` header or a ``csrf`` form field: a cross-site page can
neither read it nor, with ``SameSite=Strict``, even send the cookie.
"""

from __future__ import annotations

import hashlib
import hmac

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
