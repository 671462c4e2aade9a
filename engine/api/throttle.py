"""Failed logins counted per client address and login: too many, and that pair's checks stop for a while.

After ``max_failures`` wrong passwords for one login within ``window_s`` seconds, every password check of
that login from that address is answered 429 for the lockout, the right password included (otherwise the
lock would still tell a guesser when it guessed right). Each lockout that follows another without a
successful login in between lasts twice as long, up to ``max_lockout_s``. The same login from another
address, and other logins from the same address, are not concerned: a guesser cannot lock the
administrator out everywhere. Bearer tokens keep working: they prove an earlier login and cannot be
guessed. Defaults: 10 failures in 5 minutes lock the pair for 5 minutes, then 10, 20… up to 1 hour.
An operator locked out everywhere resets the password with ``oibus-launcher --reset-password``.

Checks still running count against the limit, so a burst of concurrent guesses cannot slip past it while
argon2 works; concurrent checks of one same pair are merged by the caller and count once.
Loopback is not exempt: behind a reverse proxy every client comes from it, and an attacker too.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Address:
    failures: deque[float] = field(default_factory=deque)
    checking: int = 0
    locked_until: float = 0.0
    lockouts: int = 0


class LoginThrottle:
    """Counts password checks and failures per address; all methods run on the event loop."""

    def __init__(
        self,
        *,
        max_failures: int = 10,
        window_s: float = 300.0,
        lockout_s: float = 300.0,
        max_lockout_s: float = 3600.0,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self.max_lockout_s = max(max_lockout_s, lockout_s)
        self._max_addresses = max_addresses
        self._clock = clock
        self._addresses: OrderedDict[tuple[str, str], _Address] = OrderedDict()

    def reserve(self, address: str, login: str) -> int | None:
        """Start a check of ``login`` from ``address``: ``None`` if it may run, else seconds to wait."""
        moment = self._clock()
        key = (address, login)
        state = self._addresses.get(key)
        if state is None:
            state = self._addresses[key] = _Address()
            self._prune()
        else:
            self._addresses.move_to_end(key)
        if state.locked_until > moment:
            return math.ceil(state.locked_until - moment)
        self._forget_old(state, moment)
        if len(state.failures) + state.checking >= self.max_failures:
            # Only running checks fill the quota: one of them ends soon.
            return 1
        state.checking += 1
        return None

    def release(self, address: str, login: str, *, succeeded: bool) -> bool:
        """End a check started by ``reserve``; ``True`` when this failure locks the pair out."""
        key = (address, login)
        state = self._addresses.get(key)
        if state is None:
            return False
        state.checking = max(state.checking - 1, 0)
        if succeeded:
            state.failures.clear()
            state.lockouts = 0
            if not state.checking:
                del self._addresses[key]
            return False
        moment = self._clock()
        self._forget_old(state, moment)
        state.failures.append(moment)
        if len(state.failures) >= self.max_failures and state.locked_until <= moment:
            state.locked_until = moment + self.lockout_for(state.lockouts)
            state.lockouts += 1
            state.failures.clear()
            return True
        return False

    def lockout_for(self, earlier: int) -> float:
        """Length of a lockout that follows ``earlier`` lockouts with no successful login between."""
        return min(self.lockout_s * float(2 ** min(earlier, 32)), self.max_lockout_s)

    def retry_after(self, address: str, login: str) -> int | None:
        """Seconds left while ``login`` from ``address`` is locked out, else ``None``."""
        state = self._addresses.get((address, login))
        if state is None:
            return None
        left = state.locked_until - self._clock()
        return math.ceil(left) if left > 0 else None

    def __len__(self) -> int:
        return len(self._addresses)

    def _forget_old(self, state: _Address, moment: float) -> None:
        while state.failures and state.failures[0] <= moment - self.window_s:
            state.failures.popleft()

    def _prune(self) -> None:
        """Keep memory bounded under a flood of addresses: forget the least recently seen idle ones."""
        if len(self._addresses) <= self._max_addresses:
            return
        moment = self._clock()
        for key in list(self._addresses):
            if len(self._addresses) <= self._max_addresses:
                break
            state = self._addresses[key]
            if not state.checking and state.locked_until <= moment:
                del self._addresses[key]
