"""Login tokens: HS256 compact form, expiry, forgery, the password fingerprint."""

from __future__ import annotations

import base64
import json

import pytest

from engine.api.tokens import TOKEN_LIFETIMES, BadToken, TokenSigner

KEY = bytes(range(32))


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def test_round_trip_and_expiry() -> None:
    clock = Clock()
    signer = TokenSigner(KEY, clock=clock)
    token = signer.issue(user_id="u1", login="admin", password_hash="$argon2id$h1", lifetime_s=3600)
    claims = signer.verify(token)
    assert (claims.iss, claims.sub, claims.login, claims.exp - claims.iat) == ("oibus", "u1", "admin", 3600)
    assert claims.pwd == signer.fingerprint("$argon2id$h1") != signer.fingerprint("$argon2id$h2")
    clock.now += 3599
    signer.verify(token)
    clock.now += 1
    with pytest.raises(BadToken, match="expired"):
        signer.verify(token)


def test_the_hash_is_not_disclosed() -> None:
    token = TokenSigner(KEY).issue(user_id="u1", login="admin", password_hash="$argon2id$secret", lifetime_s=60)
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert "argon2" not in json.dumps(claims) and len(claims["pwd"]) == 22
    # Another engine's key gives another fingerprint for the same hash.
    assert TokenSigner(KEY).fingerprint("h") != TokenSigner(bytes(32)).fingerprint("h")


@pytest.mark.parametrize("bad", ["", "a.b", "a.b.c", "....", "x" * 300])
def test_malformed(bad: str) -> None:
    with pytest.raises(BadToken):
        TokenSigner(KEY).verify(bad)


def test_other_key_or_changed_claims_are_refused() -> None:
    signer = TokenSigner(KEY)
    token = signer.issue(user_id="u1", login="admin", password_hash="h", lifetime_s=60)
    with pytest.raises(BadToken, match="signature"):
        TokenSigner(bytes(32)).verify(token)
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "u2"
    changed = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(BadToken):
        signer.verify(f"{header}.{changed}.{signature}")


def test_short_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="256 bits"):
        TokenSigner(b"short")


def test_every_setting_has_a_lifetime() -> None:
    assert TOKEN_LIFETIMES == {
        "1h": 3600,
        "6h": 21600,
        "1d": 86400,
        "3d": 259200,
        "7d": 604800,
        "14d": 1209600,
        "30d": 2592000,
    }
