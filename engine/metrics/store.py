"""``logs/metrics.db``: one row per connector and one for the engine, cumulative across worker and engine restarts.

Workers report their own counters, which start from zero with each worker process. The store keeps, per
worker, the last value it saw of each counter and adds the difference to the row. A value lower than the
last one means the counter started again (a new worker process, or a recreated cache): the whole new value
is added. The engine also says when it spawns a worker (``worker_started``), so a new process is counted
whole even when its first report is already above its predecessor's last one.

Rows change on the event loop; about once a second the changed rows are written in a thread (WAL,
``synchronous=NORMAL``, like upstream's metrics.db). The table is ours (``oibus_metrics``: kind, id, JSON):
an upstream ``metrics.db`` in the same file keeps its own tables untouched. A second table of ours,
``oibus_metrics_history``, keeps the last hour of throughput and cache size (``engine.metrics.history``).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import msgspec
import psutil
import structlog

from engine.config.base import now
from engine.metrics import history
from engine.metrics.history import Point, Series, ThroughputHistory
from engine.metrics.model import COUNTERS, ENGINE_ID, GAUGES, Kind, connector_row, engine_row
from engine.metrics.process import ProcessSample, ProcessSampler
from engine.rebuildable import DamagedDatabase, check_integrity, move_aside
from engine.store_health import UnavailableStores

log = structlog.get_logger(__name__)

METRICS_DB = "metrics.db"
FLUSH_INTERVAL_S = 1.0

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS oibus_metrics"
    " (kind TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (kind, id))"
)
_UPSERT = (
    "INSERT INTO oibus_metrics (kind, id, data) VALUES (?, ?, ?)"
    " ON CONFLICT (kind, id) DO UPDATE SET data = excluded.data"
)
_DELETE = "DELETE FROM oibus_metrics WHERE kind = ? AND id = ?"

RowKey = tuple[str, str]


class Sampler(Protocol):
    """Reads the engine process tree (blocking; called in a thread)."""

    def sample(self) -> ProcessSample:
        """One reading."""
        ...


@dataclass(frozen=True, slots=True)
class _Batch:
    upserts: list[tuple[str, str, str]]
    deletes: list[RowKey]
    points: list[Point]
    prune_before: float | None


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_kind(kind: str) -> Kind | None:
    if kind == "south":
        return "south"
    if kind == "north":
        return "north"
    return None


def metrics_db_path(data_dir: Path) -> Path:
    """Where the metrics of a data folder live."""
    return data_dir / "logs" / METRICS_DB


class MetricsStore:
    """The persisted metrics of one data folder; feed it worker reports, read rows for the API.

    Use it as an async context manager (the final flush happens at exit). ``start(group)`` runs the 1 s
    loop that samples the engine process and writes the changed rows.
    """

    def __init__(
        self,
        path: Path,
        *,
        sampler: Sampler | None = None,
        interval_s: float = FLUSH_INTERVAL_S,
        clock: Callable[[], str] = now,
        wall: Callable[[], float] = time.time,
        history_step_s: float = history.STEP_S,
        unavailable: UnavailableStores | None = None,
    ) -> None:
        self.path = path
        self.unavailable = unavailable if unavailable is not None else UnavailableStores()
        self.interval_s = interval_s
        self._clock = clock
        self._wall = wall
        self.history = ThroughputHistory(step_s=history_step_s)
        self._points: list[Point] = []
        self._prune_before: float | None = None
        self._sampler: Sampler = sampler if sampler is not None else ProcessSampler()
        self._lock = threading.Lock()
        self._rows: dict[RowKey, dict[str, Any]] = {}
        self._seen: dict[str, dict[str, float]] = {}
        self._dirty: set[RowKey] = set()
        self._deleted: set[RowKey] = set()
        self._last_sample: ProcessSample | None = None
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self._closed = False
        self._conn: sqlite3.Connection | None = self._connect_unless_full()

    @classmethod
    def open(cls, data_dir: Path, **options: Any) -> MetricsStore:
        """Open ``<data_dir>/logs/metrics.db`` (created when missing)."""
        return cls(metrics_db_path(data_dir), **options)

    def _connect_unless_full(self) -> sqlite3.Connection | None:
        """Open the database; on a full disk, None: counters are kept in memory and each flush tries again."""
        effect = "counters kept in memory, written once it opens"
        return self.unavailable.attempt(METRICS_DB, self.path, self._connect, effect=effect)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return self._open_db()
        except sqlite3.DatabaseError as err:
            if err.sqlite_errorcode not in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB) and not isinstance(
                err, DamagedDatabase
            ):
                raise
            # Metrics are not worth refusing to start for: keep the damaged file aside and count afresh.
            aside = move_aside(self.path)
            log.warning(
                "metrics_db_unreadable", path=str(self.path), moved_to=str(aside), error=str(err), lost="counters"
            )
            self._rows.clear()
            self.history = ThroughputHistory(step_s=self.history.step_s)
            return self._open_db()

    def _open_db(self) -> sqlite3.Connection:
        # Written from worker threads, one at a time (``_lock``).
        conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            check_integrity(conn)
            conn.execute(_SCHEMA)
            conn.execute(history.SCHEMA)
            for kind, row_id, data in conn.execute("SELECT kind, id, data FROM oibus_metrics"):
                # Opened late (its disk was full at start): what was counted meanwhile is the newer row.
                if (kind, row_id) not in self._rows:
                    self._load(kind, row_id, data)
            self.history.load(conn.execute(history.SELECT, (self._wall() - self.history.window_s,)))
        except BaseException:
            conn.close()
            raise
        return conn

    def _load(self, kind: str, row_id: str, data: str) -> None:
        try:
            stored = msgspec.json.decode(data)
        except msgspec.DecodeError:
            log.warning("metrics_row_unreadable", kind=kind, id=row_id)
            return
        if not isinstance(stored, dict):
            return
        # Fields added since the row was written start from their defaults.
        start = str(stored.get("metricsStart") or self._clock())
        connector_kind = _as_kind(kind)
        if kind == "engine":
            self._rows[(kind, row_id)] = {**engine_row(start), **stored}
        elif connector_kind is not None:
            self._rows[(kind, row_id)] = {**connector_row(connector_kind, start), **stored}

    # ----------------------------------------------------------------------------------------- feeding

    def record(self, key: str, values: dict[str, Any]) -> None:
        """A worker's report (``key`` is ``south:<id>`` or ``north:<id>``); fits ``Engine.metrics_listeners``."""
        prefix, _, connector_id = key.partition(":")
        kind = _as_kind(prefix)
        if kind is None or not connector_id:
            return
        row = self._row(kind, connector_id)
        counters = COUNTERS[kind]
        seen = self._seen.setdefault(key, {})
        for name in counters:
            value = values.get(name)
            if not _number(value):
                continue
            assert isinstance(value, int | float)
            before = seen.get(name)
            # Lower than last time: the counter started again from zero, so all of it is new.
            delta = value if before is None or value < before else value - before
            row[name] = (row.get(name) or 0) + delta
            seen[name] = value
        for name, value in values.items():
            # metricsStart is the row's own (its last reset), not the worker's start.
            if value is not None and name not in counters and name != "metricsStart":
                row[name] = value
        self._dirty.add((kind, connector_id))

    def worker_started(self, key: str) -> None:
        """A new process for worker ``key``: its counters start from zero; fits ``Engine.worker_start_listeners``."""
        self._seen.pop(key, None)

    def reset(self, kind: Kind, connector_id: str) -> None:
        """Count again from now: counters to zero, last values forgotten; live gauges (cache sizes) are kept."""
        previous = self._rows.get((kind, connector_id), {})
        row = connector_row(kind, self._clock())
        for name in GAUGES[kind]:
            row[name] = previous.get(name, 0)
        self._rows[(kind, connector_id)] = row
        self._dirty.add((kind, connector_id))

    def reset_engine(self) -> None:
        """Restart the engine's minima and maxima from the latest sample."""
        row = engine_row(self._clock())
        if self._last_sample is not None:
            self._apply(row, self._last_sample)
        self._rows[("engine", ENGINE_ID)] = row
        self._dirty.add(("engine", ENGINE_ID))

    def prune(self, kind: Kind, keep: Iterable[str]) -> None:
        """Forget the rows of ``kind`` whose id is not in ``keep`` (connectors deleted meanwhile)."""
        wanted = set(keep)
        for key in [key for key in self._rows if key[0] == kind and key[1] not in wanted]:
            del self._rows[key]
            self._dirty.discard(key)
            self._deleted.add(key)

    def _row(self, kind: Kind, connector_id: str) -> dict[str, Any]:
        row = self._rows.get((kind, connector_id))
        if row is None:
            row = self._rows[(kind, connector_id)] = connector_row(kind, self._clock())
            self._dirty.add((kind, connector_id))
        return row

    @staticmethod
    def _apply(row: dict[str, Any], sample: ProcessSample) -> None:
        row["processCpuUsageInstant"] = sample.cpu_instant
        row["processCpuUsageAverage"] = sample.cpu_average
        row["processUptime"] = sample.uptime_ms
        row["freeMemory"] = sample.free_memory
        row["totalMemory"] = sample.total_memory
        for name, value in sample.memory.items():
            row[f"current{name}"] = value
            low, high = row.get(f"min{name}"), row.get(f"max{name}")
            row[f"min{name}"] = value if low is None else min(low, value)
            row[f"max{name}"] = value if high is None else max(high, value)

    def add_sample(self, sample: ProcessSample) -> None:
        """Take one reading of the engine process into the engine row."""
        self._last_sample = sample
        key = ("engine", ENGINE_ID)
        row = self._rows.get(key)
        if row is None:
            row = self._rows[key] = engine_row(self._clock())
        self._apply(row, sample)
        self._dirty.add(key)

    # ----------------------------------------------------------------------------------------- reading

    def get(self, kind: Kind, connector_id: str) -> dict[str, Any]:
        """A copy of the row of a connector (a zeroed row counting from now if it never reported)."""
        return dict(self._row(kind, connector_id))

    def series(self, since_s: float) -> Series:
        """Throughput and cache size of the last ``since_s`` seconds (at most the history's hour)."""
        return self.history.series(self._wall() - since_s)

    def take_point(self) -> None:
        """Add a history point of the current rows when one is due (``tick`` calls it every second)."""
        at = self._wall()
        if not self.history.due(at):
            return
        point = history.take_point(at, self._rows)
        self._prune_before = self.history.add(point)
        self._points.append(point)

    def engine(self) -> dict[str, Any]:
        """A copy of the engine row."""
        row = self._rows.get(("engine", ENGINE_ID))
        if row is None:
            row = self._rows[("engine", ENGINE_ID)] = engine_row(self._clock())
            self._dirty.add(("engine", ENGINE_ID))
        return dict(row)

    # ----------------------------------------------------------------------------------------- writing

    def start(self, group: asyncio.TaskGroup) -> None:
        """Sample and flush every ``interval_s`` inside ``group`` until ``stop``."""
        self._task = group.create_task(self._run(), name="metrics:flush")

    def stop(self) -> None:
        """End the loop started by ``start`` (the owner's TaskGroup awaits it); ``aclose`` still flushes."""
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            await self.tick()
            await asyncio.sleep(self.interval_s)

    async def tick(self) -> None:
        """Sample the engine process, then write what changed."""
        try:
            sample = await asyncio.to_thread(self._sampler.sample)
        except (psutil.Error, OSError) as err:
            log.warning("engine_metrics_sample_failed", error=str(err))
        else:
            self.add_sample(sample)
        self.take_point()
        await self.flush()

    def _take(self) -> _Batch | None:
        if not self._dirty and not self._deleted and not self._points:
            return None
        upserts = [
            (kind, row_id, msgspec.json.encode(self._rows[(kind, row_id)]).decode())
            for kind, row_id in self._dirty
            if (kind, row_id) in self._rows
        ]
        batch = _Batch(
            upserts=upserts, deletes=list(self._deleted), points=self._points, prune_before=self._prune_before
        )
        self._dirty.clear()
        self._deleted.clear()
        self._points = []
        self._prune_before = None
        return batch

    def _give_back(self, batch: _Batch) -> None:
        """A batch that was not written: its rows are written with the next one."""
        self._dirty.update((kind, row_id) for kind, row_id, _ in batch.upserts)
        self._deleted.update(key for key in batch.deletes if key not in self._rows)
        self._points = batch.points + self._points
        if self._prune_before is None:
            self._prune_before = batch.prune_before

    def _write(self, batch: _Batch) -> None:
        with self._lock:
            conn = self._conn
            if conn is None:
                raise sqlite3.ProgrammingError("metrics.db is closed")
            conn.execute("BEGIN")
            try:
                conn.executemany(_DELETE, batch.deletes)
                conn.executemany(_UPSERT, batch.upserts)
                conn.executemany(history.INSERT, [point.row() for point in batch.points])
                if batch.prune_before is not None:
                    conn.execute(history.PRUNE, (batch.prune_before,))
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    async def flush(self) -> None:
        """Write the rows changed since the last flush (in a thread); a failure keeps them for the next one."""
        if self._conn is None and not self._closed:
            conn = await asyncio.to_thread(self._connect_unless_full)
            with self._lock:
                self._conn = conn
            if conn is None:
                # Only the history's hour is worth keeping for later; the rows are kept whole anyway.
                del self._points[: -int(self.history.window_s / self.history.step_s) or None]
                return
        batch = self._take()
        if batch is None:
            return
        try:
            await asyncio.to_thread(self._write, batch)
        except sqlite3.Error as err:
            self._give_back(batch)
            if not self._failing:
                log.warning("metrics_write_failed", path=str(self.path), error=str(err))
                self._failing = True
            return
        except BaseException:
            self._give_back(batch)
            raise
        if self._failing:
            log.info("metrics_write_recovered", path=str(self.path))
            self._failing = False

    def _close(self, batch: _Batch | None) -> None:
        try:
            if batch is not None:
                self._write(batch)
        except sqlite3.Error as err:
            log.warning("metrics_final_write_failed", path=str(self.path), error=str(err))
        finally:
            with self._lock:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None

    async def aclose(self) -> None:
        """Stop the loop, write what is left and close the database."""
        self.stop()
        if self._task is not None and not self._task.done():
            await asyncio.wait([self._task])
        self._closed = True
        if self._conn is not None:
            await asyncio.to_thread(self._close, self._take())

    async def __aenter__(self) -> MetricsStore:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
