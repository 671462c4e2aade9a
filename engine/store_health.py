"""Rebuildable stores the engine runs without for now (a full disk), as ``GET /api/engine/info`` states them.

``logs/logs.db`` and ``logs/metrics.db`` are worth no stopped engine: when one cannot be opened or created
because its disk is full, the engine starts (or goes on) without it, says so once in the log and in
``unavailableStores``, and opens it again by itself once space is freed.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import structlog

from engine.cache.space import is_store_no_space, no_space_reason

log = structlog.get_logger(__name__)

T = TypeVar("T")


class UnavailableStores:
    """Which stores are unavailable and why; written from the threads that open them, read by the API."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reasons: dict[str, str] = {}

    def set(self, name: str, reason: str) -> bool:
        """Record that ``name`` is unavailable; True when it was not already (log the episode once)."""
        with self._lock:
            new = name not in self._reasons
            self._reasons[name] = reason
            return new

    def clear(self, name: str) -> bool:
        """Record that ``name`` is available again; True when it was not (log the recovery once)."""
        with self._lock:
            return self._reasons.pop(name, None) is not None

    def lines(self) -> list[str]:
        """One line per unavailable store, ``<name>: <reason>``, sorted by name."""
        with self._lock:
            return [f"{name}: {reason}" for name, reason in sorted(self._reasons.items())]

    def attempt(self, name: str, path: Path, opener: Callable[[], T], *, effect: str) -> T | None:
        """Open ``name`` at ``path`` with ``opener``; ``None`` while its disk is full (other errors are raised).

        The first failure of an episode is logged with its ``effect``, and the first success after it.
        """
        try:
            opened = opener()
        except (sqlite3.Error, OSError) as err:
            if not is_store_no_space(err, path):
                raise
            reason = no_space_reason(path)
            if self.set(name, reason):
                log.warning(
                    "store_unavailable", store=name, path=str(path), reason=reason, error=str(err), effect=effect
                )
            return None
        if self.clear(name):
            log.info("store_available_again", store=name, path=str(path))
        return opened
