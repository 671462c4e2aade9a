"""Basic-auth credentials already verified with argon2, so each pair pays for argon2 only once.

Ingestion clients send Basic auth on every request; verifying argon2 each time would cap a small machine
at a few requests per second. An entry is keyed by a SHA-256 of the pair (the password itself is never
kept) and remembers the stored hash it matched: when the user's hash changes, the entry no longer
matches and the new password must be verified, so a changed password is refused at once.

Concurrent requests carrying one same unverified pair (a client opening several connections at once) wait
for a single argon2 verification: ``pending`` holds the verification under way for each pair.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Callable


class CredentialCache:
    """A small LRU map ``sha256(login, password) -> argon2 hash it was verified against``."""

    def __init__(self, max_entries: int = 256) -> None:
        self._entries: OrderedDict[bytes, str] = OrderedDict()
        self._max_entries = max_entries
        self._decoy: str | None = None
        self.pending: dict[tuple[bytes, str], asyncio.Future[bool]] = {}
        """Verifications under way, by cache key and stored hash (result: whether the password matched)."""

    def decoy_hash(self, make: Callable[[str], str]) -> str:
        """Return a hash to verify unknown logins against (made once with ``make``, the store's hasher)."""
        if self._decoy is None:
            self._decoy = make("decoy password never valid for any login")
        return self._decoy

    @staticmethod
    def key(login: str, password: str) -> bytes:
        """Return the cache key of a pair (length-prefixed so ``a:bc`` and ``ab:c`` differ)."""
        raw_login = login.encode()
        return hashlib.sha256(len(raw_login).to_bytes(4, "big") + raw_login + password.encode()).digest()

    def matches(self, key: bytes, current_hash: str) -> bool:
        """Tell whether ``key`` was verified against ``current_hash`` (a stale entry is dropped)."""
        verified = self._entries.get(key)
        if verified is None:
            return False
        if verified != current_hash:
            del self._entries[key]
            return False
        self._entries.move_to_end(key)
        return True

    def remember(self, key: bytes, current_hash: str) -> None:
        """Record a successful argon2 verification."""
        self._entries[key] = current_hash
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
