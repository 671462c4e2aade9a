"""``logs/logs.db``: the SQLite sink (batched inserts, upstream's purge rule) and the queries behind ``/api/logs``.

Upstream's table and columns, so an upstream data folder's ``logs.db`` reads the same: ``logs(timestamp,
level, scope_type, scope_id, scope_name, message, item_id, item_name, group_id, group_name)``, timestamps
as ISO-8601 UTC strings with milliseconds (they sort as text). WAL lets the API read while the sink writes.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from engine.cache.space import no_space_reason
from engine.errors import TryAgainLater
from engine.logs.records import LogRecord
from engine.logs.sinks import Report, ThreadedSink
from engine.rebuildable import check_integrity, open_rebuildable
from engine.store_health import UnavailableStores

log = structlog.get_logger(__name__)

LOGS_DB = "logs.db"
PAGE_SIZE = 50

_COLUMNS = (
    "timestamp",
    "level",
    "scope_type",
    "scope_id",
    "scope_name",
    "message",
    "item_id",
    "item_name",
    "group_id",
    "group_name",
)
_INSERT = f"INSERT INTO logs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
_DTO_KEYS = (
    "timestamp",
    "level",
    "scopeType",
    "scopeId",
    "scopeName",
    "message",
    "itemId",
    "itemName",
    "groupId",
    "groupName",
)


def connect(path: Path) -> sqlite3.Connection:
    """Open ``logs.db`` (created with its schema when missing); autocommit, transactions are explicit.

    A damaged file is moved aside and a new one created: old log lines are not worth a stopped engine.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    return open_rebuildable(path, _connect, loss="the log lines stored in logs.db so far", logger=log)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=10.0, isolation_level=None)
    try:
        check_integrity(conn)
        # auto_vacuum only takes effect before the first table exists: purged rows then give their pages back.
        conn.execute("PRAGMA auto_vacuum = FULL")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS logs (timestamp TEXT NOT NULL, level TEXT NOT NULL, scope_type TEXT NOT NULL,"
            " scope_id TEXT, scope_name TEXT, message TEXT NOT NULL)"
        )
        existing = {row[1] for row in conn.execute("PRAGMA table_info(logs)")}
        # Upstream before 3.9 had no item or group columns.
        for column in ("item_id", "item_name", "group_id", "group_name"):
            if column not in existing:
                conn.execute(f"ALTER TABLE logs ADD COLUMN {column} TEXT")
        conn.execute("CREATE INDEX IF NOT EXISTS logs_timestamp ON logs (timestamp)")
    except BaseException:
        conn.close()
        raise
    return conn


def purge(conn: sqlite3.Connection, count: int, maximum: int) -> int:
    """Upstream's rule: at ``maximum`` rows or more, delete the oldest ``count - maximum + maximum / 5``.

    Returns how many rows were deleted. ``maximum`` 0 means no limit (the sink is disabled then anyway).
    """
    if maximum <= 0 or count < maximum:
        return 0
    excess = count - maximum + maximum // 5
    cursor = conn.execute(
        "DELETE FROM logs WHERE rowid IN (SELECT rowid FROM logs ORDER BY rowid LIMIT ?)", (max(excess, 0),)
    )
    return cursor.rowcount


@dataclass(frozen=True, slots=True)
class DatabaseSpec:
    """Where the database is, and how many rows it may keep."""

    path: Path
    max_logs: int


class SqliteSink(ThreadedSink):
    """Inserts records in batches every half second (upstream: 700 ms), then applies the purge rule."""

    name = "database"
    spec: DatabaseSpec

    def __init__(self, spec: DatabaseSpec, level: int, report: Report, *, interval_s: float = 0.5) -> None:
        super().__init__(spec, level, report, interval_s=interval_s, max_buffer=100_000, batch_size=5_000)
        self._conn: sqlite3.Connection | None = None
        self._count = 0

    def adopt(self, spec: Any) -> bool:
        """A new maximum applies in place (from the next batch)."""
        if not isinstance(spec, DatabaseSpec) or spec.path != self.spec.path:
            return False
        self.spec = spec
        return True

    def write(self, records: list[LogRecord]) -> None:
        """Insert one batch in one transaction, then purge if the table is full."""
        conn = self._conn
        if conn is None:
            conn = self._conn = connect(self.spec.path)
            self._count = conn.execute("SELECT COUNT(*) FROM logs").fetchone()[0]
        rows = [
            (
                record.timestamp,
                record.level_name,
                record.scope_type,
                record.scope_id,
                record.scope_name,
                record.message,
                record.item_id,
                record.item_name,
                record.group_id,
                record.group_name,
            )
            for record in records
        ]
        try:
            conn.execute("BEGIN")
            conn.executemany(_INSERT, rows)
            conn.execute("COMMIT")
            self._count += len(rows)
            if self.spec.max_logs and self._count >= self.spec.max_logs:
                # Count again: the API may have deleted a connector's logs meanwhile.
                self._count = conn.execute("SELECT COUNT(*) FROM logs").fetchone()[0]
                self._count -= purge(conn, self._count, self.spec.max_logs)
        except sqlite3.Error:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
            self._conn = None
            raise

    def shutdown(self) -> None:
        """Close the connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


# ------------------------------------------------------------------------------------------------ reads


@dataclass(frozen=True, slots=True)
class LogQuery:
    """Filters of ``GET /api/logs`` (instants already normalised to the stored format)."""

    start: str
    end: str
    levels: Sequence[str] = ()
    scope_ids: Sequence[str] = ()
    scope_types: Sequence[str] = ()
    item_ids: Sequence[str] = ()
    group_ids: Sequence[str] = ()
    message_content: str | None = None
    page: int = 0


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class LogStore:
    """Reads of ``logs.db`` for the API (blocking: call from a thread), and deletion of a scope's logs."""

    def __init__(self, data_dir: Path, unavailable: UnavailableStores | None = None) -> None:
        self.path = data_dir / "logs" / LOGS_DB
        self.unavailable = unavailable if unavailable is not None else UnavailableStores()
        self._ready = False
        # Create the file and schema now, so reads work before the sink's first batch (or with it disabled).
        self.ensure()

    def ensure(self) -> bool:
        """Create the file and its schema if not done yet; False while its disk is full (the engine runs on).

        Called at start, before each read, and by the engine while the store is unavailable: it comes back
        by itself once space is freed.
        """
        if self._ready:
            return True
        conn = self.unavailable.attempt(
            LOGS_DB,
            self.path,
            lambda: connect(self.path),
            effect="log lines go to the console and the other sinks only; the API has none to search",
        )
        if conn is None:
            return False
        conn.close()
        self._ready = True
        return True

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        if not self.ensure():
            raise TryAgainLater(f"{LOGS_DB} is unavailable: {no_space_reason(self.path)}")
        conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        try:
            yield conn
        finally:
            conn.close()

    def search(self, query: LogQuery) -> dict[str, Any]:
        """One page (50, newest first) of matching logs: ``{content, size, number, totalElements, totalPages}``."""
        where = ["timestamp BETWEEN ? AND ?"]
        params: list[Any] = [query.start, query.end]
        for column, values in (
            ("level", query.levels),
            ("scope_id", query.scope_ids),
            ("scope_type", query.scope_types),
            ("item_id", query.item_ids),
            ("group_id", query.group_ids),
        ):
            if values:
                where.append(f"{column} IN ({', '.join('?' * len(values))})")
                params.extend(values)
        if query.message_content:
            where.append("message LIKE ? ESCAPE '\\'")
            params.append(_like(query.message_content))
        clause = " AND ".join(where)
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM logs WHERE {clause}"
                " ORDER BY timestamp DESC, rowid DESC LIMIT ? OFFSET ?",
                (*params, PAGE_SIZE, PAGE_SIZE * query.page),
            ).fetchall()
            total = conn.execute(f"SELECT COUNT(*) FROM logs WHERE {clause}", params).fetchone()[0]
        return {
            "content": [dict(zip(_DTO_KEYS, row, strict=True)) for row in rows],
            "size": PAGE_SIZE,
            "number": query.page,
            "totalElements": total,
            "totalPages": -(-total // PAGE_SIZE),
        }

    def _suggest(self, kind: str, name: str, scope_id: str | None) -> list[dict[str, str]]:
        # The latest name wins when an entity was renamed (SQLite returns the bare column of the MAX row).
        sql = (
            f"SELECT {kind}_id, {kind}_name, MAX(rowid) FROM logs WHERE {kind}_id IS NOT NULL"
            f" AND {kind}_name LIKE ? ESCAPE '\\'"
        )
        params: list[Any] = [_like(name)]
        if scope_id:
            sql += " AND scope_id = ?"
            params.append(scope_id)
        sql += f" GROUP BY {kind}_id ORDER BY {kind}_name"
        with self._connection() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [{f"{kind}Id": row[0], f"{kind}Name": row[1]} for row in rows]

    def _get(self, kind: str, entity_id: str) -> dict[str, str] | None:
        with self._connection() as conn:
            row = conn.execute(
                f"SELECT {kind}_id, {kind}_name FROM logs WHERE {kind}_id = ? ORDER BY rowid DESC LIMIT 1", (entity_id,)
            ).fetchone()
        return None if row is None else {f"{kind}Id": row[0], f"{kind}Name": row[1]}

    def suggest_scopes(self, name: str = "") -> list[dict[str, str]]:
        """Scopes whose name contains ``name``: ``[{scopeId, scopeName}]``."""
        return self._suggest("scope", name, None)

    def get_scope(self, scope_id: str) -> dict[str, str] | None:
        """``{scopeId, scopeName}`` of a scope that has logs, or ``None``."""
        return self._get("scope", scope_id)

    def suggest_items(self, name: str = "", scope_id: str | None = None) -> list[dict[str, str]]:
        """Items whose name contains ``name`` (of one scope if given): ``[{itemId, itemName}]``."""
        return self._suggest("item", name, scope_id)

    def get_item(self, item_id: str) -> dict[str, str] | None:
        """``{itemId, itemName}`` of an item that has logs, or ``None``."""
        return self._get("item", item_id)

    def suggest_groups(self, name: str = "", scope_id: str | None = None) -> list[dict[str, str]]:
        """Groups whose name contains ``name`` (of one scope if given): ``[{groupId, groupName}]``."""
        return self._suggest("group", name, scope_id)

    def get_group(self, group_id: str) -> dict[str, str] | None:
        """``{groupId, groupName}`` of a group that has logs, or ``None``."""
        return self._get("group", group_id)

    def delete_scope(self, scope_type: str, scope_id: str) -> int:
        """Delete the logs of a deleted connector or history query (as upstream does); returns the count."""
        with self._connection() as conn:
            return conn.execute(
                "DELETE FROM logs WHERE scope_type = ? AND scope_id = ?", (scope_type, scope_id)
            ).rowcount
