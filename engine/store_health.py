"""Rebuildable stores the engine runs without for now (a full disk), as ``GET /api/engine/info`` states them.

``logs/logs.db`` and ``logs/metrics.db`` are worth no stopped engine: when one cannot be opened or created
because its disk is full, the engine starts (or goes on) without it, says so once in the log and in
``unavailableStores``, and opens it again by itself once space is freed.
"""

from __future__ import annotations

import threading
from pathlib import Path

import structlog

from engine.cache.space import no_space_reason

log = structlog.get_logger(__name__)


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

    def failed(self, name: str, path: Path, err: BaseException, *, effect: str) -> None:
        """``name`` at ``path`` could not be opened for want of space: record it, and log the episode once."""
        reason = no_space_reason(path)
        if self.set(name, reason):
            log.warning("store_unavailable", store=name, path=str(path), reason=reason, error=str(err), effect=effect)

    def opened(self, name: str, path: Path) -> None:
        """``name`` opened: clear it, and log the recovery once."""
        if self.clear(name):
            log.info("store_available_again", store=name, path=str(path))
