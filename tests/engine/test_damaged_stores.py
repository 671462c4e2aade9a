"""Damaged rebuildable stores (``logs.db``, ``metrics.db``, ``cache.db``) are moved aside and recreated, never fatal."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.cache.south import SouthCacheDB
from engine.logs import LogStore
from engine.metrics.store import MetricsStore


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 + 100])


def _garbled(path: Path) -> None:
    path.write_bytes(b"this is not a database, it was overwritten by something else " * 200)


class Logger:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def error(self, event: str, /, **fields: Any) -> None:
        self.events.append((event, fields))


def _fill(path: Path, rows: int = 2000) -> None:
    """Grow the file past a few pages, and fold the WAL into it, so truncating it cuts real content."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS padding (x TEXT)")
        conn.executemany("INSERT INTO padding VALUES (?)", [("x" * 200,)] * rows)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


DAMAGES: list[Callable[[Path], None]] = [_empty, _truncated, _garbled]


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda d: d.__name__.strip("_"))
def test_a_damaged_cache_db_is_moved_aside_and_recreated(tmp_path: Path, damage: Callable[[Path], None]) -> None:
    path = tmp_path / "cache" / "cache.db"
    with SouthCacheDB(path) as db:
        db.for_south("s1")
    _fill(path)
    damage(path)
    logger = Logger()
    with SouthCacheDB(path, logger=logger) as db:
        db.for_south("s1")  # usable again
    if damage is _empty:
        assert logger.events == []  # an empty file is an empty database: nothing was lost
        return
    ((event, fields),) = logger.events
    assert event == "store_damaged_recreated" and "re-read" in fields["lost"]
    (aside,) = path.parent.glob("cache.db.corrupt-*")
    assert aside.stat().st_size > 0, "the damaged file is kept, not deleted"


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda d: d.__name__.strip("_"))
def test_a_damaged_logs_db_is_moved_aside_and_recreated(tmp_path: Path, damage: Callable[[Path], None]) -> None:
    LogStore(tmp_path)
    path = tmp_path / "logs" / "logs.db"
    _fill(path)
    damage(path)
    store = LogStore(tmp_path)
    assert store.suggest_scopes("") == []
    if damage is not _empty:
        assert list(path.parent.glob("logs.db.corrupt-*"))


@pytest.mark.parametrize("damage", [_truncated, _garbled], ids=lambda d: d.__name__.strip("_"))
def test_a_damaged_metrics_db_is_moved_aside(tmp_path: Path, damage: Callable[[Path], None]) -> None:
    MetricsStore.open(tmp_path).stop()
    path = tmp_path / "logs" / "metrics.db"
    _fill(path)
    damage(path)
    MetricsStore.open(tmp_path).stop()
    assert list(path.parent.glob("metrics.db.corrupt-*"))
