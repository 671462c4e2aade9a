"""South cache: tracked instants and last values of South items, in ``<data>/cache/cache.db``.

One SQLite file is shared by every South worker process (WAL, ``busy_timeout``), each worker writing only
its own South's rows. A row belongs to one item (``item_id`` set; ``group_id`` is informational) or to one
synced group of a batching connector (``item_id`` NULL, keyed by ``group_id``), as in upstream 3.9.

Only the standard library is imported: this module runs inside worker processes, whose start-up we keep light.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from engine.rebuildable import EventLogger, check_integrity, open_rebuildable

__all__ = ["SCHEMA_VERSION", "CacheEntry", "SouthCacheDB", "SouthItemCache"]

_BUSY_TIMEOUT_MS = 10_000
# SQLite limits the number of bound parameters per statement; stay well below the historic 999.
_DELETE_CHUNK = 500

# Each entry migrates the schema from version ``index`` to ``index + 1`` (stored in ``PRAGMA user_version``).
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE IF NOT EXISTS south_item_cache (
            south_id TEXT NOT NULL,
            item_id TEXT,
            group_id TEXT,
            query_time TEXT,
            value TEXT,
            tracked_instant TEXT
        )
        """,
        # Two partial unique indexes instead of upstream's PRIMARY KEY(south_id, item_id): SQLite treats
        # NULLs as distinct, so a primary key would let group rows (item_id NULL) pile up; these make both
        # kinds of row unique and let us upsert them with ON CONFLICT.
        "CREATE UNIQUE INDEX IF NOT EXISTS south_item_cache_item "
        "ON south_item_cache(south_id, item_id) WHERE item_id IS NOT NULL",
        "CREATE UNIQUE INDEX IF NOT EXISTS south_item_cache_group "
        "ON south_item_cache(south_id, group_id) WHERE item_id IS NULL",
    ),
)

SCHEMA_VERSION = len(_MIGRATIONS)
"""The schema version this code writes; a newer database is refused rather than corrupted."""

_COLUMNS = "item_id, group_id, query_time, value, tracked_instant"


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One row as the API shows it (``GET /api/south/{id}/items/{itemId}/last-value``)."""

    item_id: str | None
    group_id: str | None
    query_time: datetime | None
    value: Any
    tracked_instant: datetime | None


def format_instant(instant: datetime) -> str:
    """Format ``instant`` like upstream: ISO-8601 UTC, milliseconds, ``Z`` (``2026-01-01T00:00:00.000Z``).

    Truncating to the millisecond can only move a tracked instant back, so a restart re-reads (never skips)
    the last sub-millisecond of data.
    """
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"instant {instant!r} has no time zone; pass an aware datetime (UTC)")
    return instant.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_instant(text: str | None) -> datetime | None:
    """Parse what :func:`format_instant` wrote; an instant stored without offset is read as UTC."""
    if not text:
        return None
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _decode_value(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        # A value written by hand or by an older version: hand it over as text rather than failing a run.
        return text


class _NoLogger:
    """Where a damaged ``cache.db`` is reported when the opener gave no logger (tests, tools)."""

    def error(self, event: str, /, **fields: Any) -> None:
        """Say it on stderr: the loss must be stated somewhere."""
        print(event, fields, file=sys.stderr)


_NO_LOGGER = _NoLogger()


class SouthCacheDB:
    """The ``cache.db`` of a data folder: open it once per process; :meth:`for_south` gives a South its view.

    Methods are synchronous and short (one indexed statement); they are safe to call from the event loop
    thread and from worker threads.
    """

    def __init__(self, path: Path, *, logger: EventLogger | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        # Positions can be rebuilt (a South reads its last window again): a damaged file is moved aside, not
        # a South crash-looping on it.
        self._conn = open_rebuildable(
            path,
            self._open,
            loss="every South's positions (tracked instants, files already read): history Souths re-read "
            "their last window (duplicates, not loss)",
            logger=logger or _NO_LOGGER,
        )

    def _open(self, path: Path) -> sqlite3.Connection:
        # Autocommit mode (isolation_level=None): every statement commits on its own, and multi-statement
        # work opens an explicit transaction, so no implicit transaction ever holds the write lock.
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            check_integrity(self._conn)
            self._migrate()
        except BaseException:
            self._conn.close()
            raise
        return self._conn

    def _migrate(self) -> None:
        # BEGIN IMMEDIATE takes the write lock before reading the version, so two workers starting together
        # cannot both apply the same migration.
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            version: int = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path} has schema version {version}, newer than this OIBus supports ({SCHEMA_VERSION})"
                )
            for statements in _MIGRATIONS[version:]:
                for statement in statements:
                    self._conn.execute(statement)
            if version != SCHEMA_VERSION:
                self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    @property
    def schema_version(self) -> int:
        """Return the version recorded in the file (``PRAGMA user_version``)."""
        with self._lock:
            version: int = self._conn.execute("PRAGMA user_version").fetchone()[0]
        return version

    def for_south(self, south_id: str) -> SouthItemCache:
        """Return the cache of one South (or of a history query, whose id is its ``south_id``)."""
        return SouthItemCache(self, south_id)

    def delete_south(self, south_id: str) -> None:
        """Forget every row of a South (the South was deleted, or all its items were)."""
        with self._lock:
            self._conn.execute("DELETE FROM south_item_cache WHERE south_id = ?", (south_id,))

    def delete_items(self, south_id: str, item_ids: Iterable[str]) -> None:
        """Forget the rows of some items of a South, in one transaction."""
        ids = list(item_ids)
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                for offset in range(0, len(ids), _DELETE_CHUNK):
                    chunk = ids[offset : offset + _DELETE_CHUNK]
                    marks = ", ".join("?" * len(chunk))
                    self._conn.execute(
                        f"DELETE FROM south_item_cache WHERE south_id = ? AND item_id IN ({marks})",
                        (south_id, *chunk),
                    )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        """Close the connection; further calls fail."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SouthCacheDB:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # Row access for SouthItemCache; ``column`` is one of our literal column names, never user input.

    def _read(self, south_id: str, item_id: str | None, group_id: str | None) -> tuple[Any, ...] | None:
        if item_id is not None:
            sql = f"SELECT {_COLUMNS} FROM south_item_cache WHERE south_id = ? AND item_id = ?"
            params: tuple[str, ...] = (south_id, item_id)
        else:
            sql = f"SELECT {_COLUMNS} FROM south_item_cache WHERE south_id = ? AND group_id = ? AND item_id IS NULL"
            params = (south_id, _require_group(group_id))
        with self._lock:
            row: tuple[Any, ...] | None = self._conn.execute(sql, params).fetchone()
        return row

    def _write(
        self, south_id: str, item_id: str | None, group_id: str | None, assignments: dict[str, str | None]
    ) -> None:
        columns = ", ".join(assignments)
        marks = ", ".join("?" * len(assignments))
        updates = ", ".join(f"{column} = excluded.{column}" for column in assignments)
        if item_id is not None:
            sql = (
                f"INSERT INTO south_item_cache (south_id, item_id, group_id, {columns}) "
                f"VALUES (?, ?, ?, {marks}) "
                "ON CONFLICT (south_id, item_id) WHERE item_id IS NOT NULL "
                f"DO UPDATE SET group_id = excluded.group_id, {updates}"
            )
            params: tuple[str | None, ...] = (south_id, item_id, group_id, *assignments.values())
        else:
            sql = (
                f"INSERT INTO south_item_cache (south_id, item_id, group_id, {columns}) "
                f"VALUES (?, NULL, ?, {marks}) "
                f"ON CONFLICT (south_id, group_id) WHERE item_id IS NULL DO UPDATE SET {updates}"
            )
            params = (south_id, _require_group(group_id), *assignments.values())
        with self._lock:
            self._conn.execute(sql, params)


def _require_group(group_id: str | None) -> str:
    if group_id is None:
        raise ValueError("a South cache row needs an item_id or a group_id")
    return group_id


class SouthItemCache:
    """The South cache seen by one South: implements ``connectors.base.SouthCache``.

    ``item_id`` selects the row of an item; ``item_id=None`` with a ``group_id`` selects the row of a synced
    group. Values are stored as JSON. Writing the tracked instant leaves the value untouched, and the reverse.
    """

    def __init__(self, db: SouthCacheDB, south_id: str) -> None:
        self._db = db
        self.south_id = south_id

    def get_tracked_instant(self, item_id: str | None, group_id: str | None = None) -> datetime | None:
        """Return the instant up to which data was handed over, or ``None`` before any."""
        row = self._db._read(self.south_id, item_id, group_id)
        return parse_instant(row[4]) if row else None

    def set_tracked_instant(self, item_id: str | None, instant: datetime, group_id: str | None = None) -> None:
        """Record the tracked instant (call only after the data up to it was acknowledged)."""
        self._db._write(self.south_id, item_id, group_id, {"tracked_instant": format_instant(instant)})

    def get_value(self, item_id: str | None, group_id: str | None = None) -> Any:
        """Return the last value stored for the row (decoded JSON), or ``None``."""
        row = self._db._read(self.south_id, item_id, group_id)
        return _decode_value(row[3]) if row else None

    def set_value(self, item_id: str | None, value: Any, group_id: str | None = None) -> None:
        """Store ``value`` (JSON-serialisable) and stamp the row's ``query_time`` with now."""
        self._db._write(
            self.south_id,
            item_id,
            group_id,
            {
                "value": json.dumps(value, separators=(",", ":")),
                "query_time": format_instant(datetime.now(UTC)),
            },
        )

    def entry(self, item_id: str | None, group_id: str | None = None) -> CacheEntry | None:
        """Return the whole row, or ``None`` when nothing was recorded yet."""
        row = self._db._read(self.south_id, item_id, group_id)
        if row is None:
            return None
        return CacheEntry(
            item_id=row[0],
            group_id=row[1],
            query_time=parse_instant(row[2]),
            value=_decode_value(row[3]),
            tracked_instant=parse_instant(row[4]),
        )
