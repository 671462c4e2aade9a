"""API login tokens: compact HS256 JWTs signed with a per-engine key, revoked by a password change.

Upstream signs RS256 JWTs that carry the user's argon2 hash, so that changing the password invalidates
them. We keep the revocation and drop both the RSA key pair and the hash disclosure: the token carries a
*password fingerprint*, ``HMAC-SHA256(key, "oibus-password" || argon2 hash)`` truncated to 128 bits. Every
password change writes a new argon2 hash (fresh salt), hence a new fingerprint, so older tokens stop
matching at once, and without the key the fingerprint says nothing about the hash.

Claims: ``iss`` (``oibus``), ``sub`` (user id), ``login``, ``iat``, ``exp`` (seconds) and ``pwd`` (the
fingerprint). Verifying costs two HMACs and one JSON decode, once per token (then remembered): no
database, no argon2. The key lives in ``crypto.db`` (``engine.config.crypto.token_key``): a copy of
``oibus.db`` alone cannot mint tokens, and deleting the key's row logs every client out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Literal

import msgspec

from engine.config.models import TokenDuration

ISSUER: Literal["oibus"] = "oibus"
TOKEN_LIFETIMES: dict[TokenDuration, int] = {
    "1h": 3600,
    "6h": 6 * 3600,
    "1d": 86_400,
    "3d": 3 * 86_400,
    "7d": 7 * 86_400,
    "14d": 14 * 86_400,
    "30d": 30 * 86_400,
}
"""Seconds of each ``webServer.authTokenDuration``."""

_FINGERPRINT_PREFIX = b"oibus-password\x00"
_FINGERPRINT_BYTES = 16
_CACHED = 1024


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# The only header we issue; a token with any other (another algorithm, ``none``) is refused as is.
_HEADER = _b64(b'{"alg":"HS256","typ":"JWT"}')


class Claims(msgspec.Struct, frozen=True, kw_only=True):
    """What a token says."""

    iss: Literal["oibus"]
    sub: str
    login: str
    iat: int
    exp: int
    pwd: str


class BadToken(ValueError):
    """The token is malformed, forged or expired."""


class TokenSigner:
    """Issues and checks tokens with one HMAC-SHA256 key."""

    def __init__(self, key: bytes, *, clock: Callable[[], float] = time.time) -> None:
        if len(key) < 32:
            raise ValueError("the token key must hold at least 256 bits")
        self._key = key
        self._clock = clock
        self._decoder = msgspec.json.Decoder(Claims)
        # Tokens already verified and fingerprints already computed: a client sends the same token on
        # every request, so the HMACs and the decode are paid once per token, not per request.
        self._verified: OrderedDict[str, Claims] = OrderedDict()
        self._fingerprints: dict[str, str] = {}

    def fingerprint(self, password_hash: str) -> str:
        """The password fingerprint of a user whose argon2 hash is ``password_hash``."""
        found = self._fingerprints.get(password_hash)
        if found is None:
            digest = hmac.new(self._key, _FINGERPRINT_PREFIX + password_hash.encode(), hashlib.sha256).digest()
            found = _b64(digest[:_FINGERPRINT_BYTES])
            if len(self._fingerprints) >= _CACHED:
                self._fingerprints.clear()
            self._fingerprints[password_hash] = found
        return found

    def issue(self, *, user_id: str, login: str, password_hash: str, lifetime_s: int) -> str:
        """A token for this user, valid ``lifetime_s`` seconds and while the password stays the same."""
        issued = int(self._clock())
        claims = Claims(
            iss=ISSUER,
            sub=user_id,
            login=login,
            iat=issued,
            exp=issued + lifetime_s,
            pwd=self.fingerprint(password_hash),
        )
        signed = f"{_HEADER}.{_b64(msgspec.json.encode(claims))}"
        return f"{signed}.{self._signature(signed)}"

    def verify(self, token: str) -> Claims:
        """The claims of a well-signed, unexpired token; ``BadToken`` otherwise.

        The password fingerprint is the caller's to compare: it needs the user's current hash.
        """
        claims = self._verified.get(token)
        if claims is not None:
            if claims.exp <= self._clock():
                del self._verified[token]
                raise BadToken("expired token")
            return claims
        claims = self._check(token)
        self._verified[token] = claims
        if len(self._verified) > _CACHED:
            self._verified.popitem(last=False)
        return claims

    def _check(self, token: str) -> Claims:
        header, _, rest = token.partition(".")
        payload, _, signature = rest.partition(".")
        if header != _HEADER or not payload or not signature:
            raise BadToken("malformed token")
        if not hmac.compare_digest(signature.encode(), self._signature(f"{header}.{payload}").encode()):
            raise BadToken("bad signature")
        try:
            claims = self._decoder.decode(_unb64(payload))
        except (binascii.Error, ValueError, msgspec.DecodeError) as err:
            raise BadToken("unreadable claims") from err
        if claims.exp <= self._clock():
            raise BadToken("expired token")
        return claims

    def _signature(self, signed: str) -> str:
        return _b64(hmac.new(self._key, signed.encode(), hashlib.sha256).digest())
