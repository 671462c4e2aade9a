"""Open a SQLite store the engine can rebuild from nothing, moving a damaged file aside instead of failing.

``logs/logs.db``, ``logs/metrics.db`` and ``cache/cache.db`` hold nothing that cannot be recreated: old
log lines, counters, and the South positions (tracked instants, files already read). A damaged one
(garbled, truncated, not a database) must not stop the engine or crash-loop a South: it is renamed with a
``.corrupt-<UTC time>`` suffix (kept for a post-mortem, never deleted), a fresh one is created, and the
loss is stated in the log. Lost positions mean a history South reads its last window again: duplicates,
never loss.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class DamagedDatabase(sqlite3.DatabaseError):
    """``quick_check`` found damage that opening the file did not reveal (a truncated file, a bad page)."""


class EventLogger(Protocol):
    """A structlog-style logger (workers pass theirs, which goes over IPC): ``logger.error("event", key=value)``."""

    def error(self, event: str, /, **fields: Any) -> Any:
        """Log ``event`` at error level."""


def open_rebuildable(path: Path, opener: Callable[[Path], T], *, loss: str, logger: EventLogger) -> T:
    """``opener(path)``; if SQLite finds the file damaged, move it aside, log ``loss``, and open a new one."""
    try:
        return opener(path)
    except sqlite3.DatabaseError as err:
        if isinstance(err, sqlite3.OperationalError) and "locked" in str(err):
            raise  # Busy, not damaged: a database another process holds is never moved away from it.
        if getattr(err, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(err):
            # ENOSPC is not damage: the file is fine and is opened again once space is freed.
            raise
        aside = move_aside(path)
        logger.error("store_damaged_recreated", path=str(path), moved_to=str(aside), error=str(err), lost=loss)
        return opener(path)


def move_aside(path: Path) -> Path:
    """Rename ``path`` (and its WAL and shared-memory files) with a ``.corrupt-<UTC time>`` suffix."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.replace(aside.with_name(aside.name + suffix))
    if path.exists():
        path.replace(aside)
    return aside


def check_integrity(conn: sqlite3.Connection) -> None:
    """Raise ``sqlite3.DatabaseError`` when ``quick_check`` finds damage SQLite did not notice on opening."""
    problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
    if problems != ["ok"]:
        raise DamagedDatabase(f"database disk image is malformed: {'; '.join(problems[:3])}")
