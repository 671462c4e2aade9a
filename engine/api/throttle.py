"""Failed logins counted per client address: too many, and password checks from there stop for a while.

After ``max_failures`` wrong passwords within ``window_s`` seconds, every password check from that address
is answered 429 for ``lockout_s`` seconds, the right password included (otherwise the lock would still
tell a guesser when it guessed right). Bearer tokens keep working: they prove an earlier login and cannot
be guessed. Defaults: 10 failures in 5 minutes lock the address for 5 minutes.

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


class LoginThrottle:
    """Counts password checks and failures per address; all methods run on the event loop."""

    def __init__(
        self,
        *,
        max_failures: int = 10,
        window_s: float = 300.0,
        lockout_s: float = 300.0,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self._max_addresses = max_addresses
        self._clock = clock
        self._addresses: OrderedDict[str, _Address] = OrderedDict()

    def reserve(self, address: str) -> int | None:
        """Start a password check from ``address``: ``None`` if it may run, else seconds to wait."""
        moment = self._clock()
        state = self._addresses.get(address)
        if state is None:
            state = self._addresses[address] = _Address()
            self._prune()
        else:
            self._addresses.move_to_end(address)
        if state.locked_until > moment:
            return math.ceil(state.locked_until - moment)
        self._forget_old(state, moment)
        if len(state.failures) + state.checking >= self.max_failures:
            # Only running checks fill the quota: one of them ends soon.
            return 1
        state.checking += 1
        return None

    def release(self, address: str, *, succeeded: bool) -> bool:
        """End a check started by ``reserve``; ``True`` when this failure locks the address out."""
        state = self._addresses.get(address)
        if state is None:
            return False
        state.checking = max(state.checking - 1, 0)
        if succeeded:
            state.failures.clear()
            if not state.checking:
                del self._addresses[address]
            return False
        moment = self._clock()
        self._forget_old(state, moment)
        state.failures.append(moment)
        if len(state.failures) >= self.max_failures and state.locked_until <= moment:
            state.locked_until = moment + self.lockout_s
            state.failures.clear()
            return True
        return False

    def retry_after(self, address: str) -> int | None:
        """Seconds left while ``address`` is locked out, else ``None``."""
        state = self._addresses.get(address)
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
        for address in list(self._addresses):
            if len(self._addresses) <= self._max_addresses:
                break
            state = self._addresses[address]
            if not state.checking and state.locked_until <= moment:
                del self._addresses[address]
