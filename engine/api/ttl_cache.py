"""One value computed at most once per interval, however many requests ask for it meanwhile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class TtlCache(Generic[T]):
    """Keeps the last value of ``compute`` for ``ttl_s`` seconds; concurrent misses share one computation.

    Scrapers and benchmarks call ``/metrics`` far more often than its content changes (the metrics are
    flushed about once a second): serving the text rendered less than ``ttl_s`` ago spares the store reads
    and the rendering of every other request. Authentication is not cached: it runs before the handler.
    """

    def __init__(self, ttl_s: float = 1.0) -> None:
        self.ttl_s = ttl_s
        self._value: T | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def get(self, compute: Callable[[], Awaitable[T]]) -> T:
        """Return the cached value, or compute (once for every waiter) a fresh one when it is too old."""
        if self._value is not None and time.monotonic() < self._expires:
            return self._value
        async with self._lock:
            # Another request may have refreshed it while this one waited for the lock.
            if self._value is None or time.monotonic() >= self._expires:
                self._value = await compute()
                self._expires = time.monotonic() + self.ttl_s
            return self._value

    def clear(self) -> None:
        """Forget the value: the next ``get`` computes a fresh one (after a reset, for instance)."""
        self._value = None
        self._expires = 0.0
