"""The last hour of throughput and cache size, kept in ``metrics.db`` for the home dashboard's chart.

Every ``STEP_S`` seconds the metrics store takes one point: the totals of every South's cumulative
counters (values and files retrieved) and the sum of every North's cache size. Points older than
``WINDOW_S`` are dropped, in memory and in the table (``oibus_metrics_history``), so the table never holds
more than an hour. Rates are computed when the series is read: the difference between two points over
the time between them; a total that went down (a reset, a deleted connector) counts as no throughput
rather than a negative one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

WINDOW_S = 3600.0
"""How far back the history goes."""
STEP_S = 10.0
"""Seconds between two points (360 points an hour)."""

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS oibus_metrics_history"
    " (time REAL PRIMARY KEY, values_total REAL NOT NULL, files_total REAL NOT NULL, cache_size REAL NOT NULL)"
)
INSERT = (
    "INSERT OR REPLACE INTO oibus_metrics_history (time, values_total, files_total, cache_size) VALUES (?, ?, ?, ?)"
)
PRUNE = "DELETE FROM oibus_metrics_history WHERE time < ?"
SELECT = "SELECT time, values_total, files_total, cache_size FROM oibus_metrics_history WHERE time >= ? ORDER BY time"


class Point(msgspec.Struct, frozen=True, array_like=True):
    """One reading: a Unix time, the cumulative South totals then, and the Norths' cache size then."""

    time: float
    values_total: float
    files_total: float
    cache_size: float

    def row(self) -> tuple[float, float, float, float]:
        """The point as a ``oibus_metrics_history`` row."""
        return (self.time, self.values_total, self.files_total, self.cache_size)


class Series(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """``GET /api/engine/metrics/history``: columns of equal length, ready for a uPlot chart.

    ``times`` are Unix seconds; each rate is measured between a point and the one before it (so the
    first point of the window has none and is left out).
    """

    times: list[float]
    values_per_second: list[float]
    files_per_second: list[float]
    cache_size: list[float]
    step_s: float = STEP_S


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def take_point(at: float, rows: Mapping[tuple[str, str], Mapping[str, Any]]) -> Point:
    """The point of the metrics rows ``rows`` (``(kind, id)`` to row) at Unix time ``at``."""
    values = files = cache = 0.0
    for (kind, _id), row in rows.items():
        if kind == "south":
            values += _number(row.get("numberOfValuesRetrieved"))
            files += _number(row.get("numberOfFilesRetrieved"))
        elif kind == "north":
            cache += _number(row.get("currentCacheSize"))
    return Point(at, values, files, cache)


class ThroughputHistory:
    """The points of the last ``window_s`` seconds, one every ``step_s``, oldest first (memory side)."""

    def __init__(self, *, window_s: float = WINDOW_S, step_s: float = STEP_S) -> None:
        self.window_s = window_s
        self.step_s = step_s
        self._points: deque[Point] = deque()

    def load(self, rows: Iterable[tuple[float, float, float, float]]) -> None:
        """Take the points read back from the table (a restart keeps the hour it had)."""
        for row in rows:
            self._points.append(Point(*row))

    def due(self, at: float) -> bool:
        """Whether a point should be taken at ``at`` (``step_s`` after the last, or none yet)."""
        return not self._points or at - self._points[-1].time >= self.step_s

    def add(self, point: Point) -> float:
        """Keep ``point``, forget what is older than the window; return the cut-off time for the table."""
        self._points.append(point)
        cutoff = point.time - self.window_s
        while self._points and self._points[0].time < cutoff:
            self._points.popleft()
        return cutoff

    def series(self, since: float) -> Series:
        """The rates and cache sizes of the points taken at or after ``since``."""
        times: list[float] = []
        values: list[float] = []
        files: list[float] = []
        cache: list[float] = []
        before: Point | None = None
        for point in self._points:
            if before is not None and point.time >= since:
                elapsed = max(point.time - before.time, 1e-3)
                times.append(point.time)
                values.append(max(point.values_total - before.values_total, 0.0) / elapsed)
                files.append(max(point.files_total - before.files_total, 0.0) / elapsed)
                cache.append(point.cache_size)
            before = point
        return Series(
            times=times, values_per_second=values, files_per_second=files, cache_size=cache, step_s=self.step_s
        )
