"""The metric fields of each row (reference §8): what accumulates, what is a live gauge, what is a last seen value.

A South row: ``metricsStart, lastConnection, lastRunStart, lastRunDuration, numberOfValuesRetrieved,
numberOfFilesRetrieved, lastValueRetrieved, lastFileRetrieved``. A North row: upstream's ``metricsStart,
lastConnection, lastRunStart, lastRunDuration, contentSentSize, contentErroredSize, contentArchivedSize,
contentCachedSize, lastContentSent, currentCacheSize, currentErrorSize, currentArchiveSize``, plus our cache's
``numberOfQueuedElements, numberOfQueuedFiles, refusedCount, refusedSize``. The engine row is described in
``engine.metrics.process``.
"""

from __future__ import annotations

from typing import Any, Literal

Kind = Literal["south", "north"]

ENGINE_ID = "engine"
"""Row id of the engine's own metrics (kind ``engine``)."""

COUNTERS: dict[str, tuple[str, ...]] = {
    "south": ("numberOfValuesRetrieved", "numberOfFilesRetrieved"),
    "north": (
        "contentCachedSize",
        "contentSentSize",
        "contentErroredSize",
        "contentArchivedSize",
        "refusedCount",
        "refusedSize",
    ),
}
"""Worker counters: they restart from zero with their worker, the store accumulates them."""

GAUGES: dict[str, tuple[str, ...]] = {
    "south": (),
    "north": (
        "currentCacheSize",
        "currentErrorSize",
        "currentArchiveSize",
        "numberOfQueuedElements",
        "numberOfQueuedFiles",
    ),
}
"""Live state of the connector: the latest report wins, and a reset keeps it (it is not history)."""

LAST_VALUES: dict[str, tuple[str, ...]] = {
    "south": ("lastConnection", "lastRunStart", "lastRunDuration", "lastValueRetrieved", "lastFileRetrieved"),
    "north": ("lastConnection", "lastRunStart", "lastRunDuration", "lastContentSent"),
}
"""Last seen values: a fresh worker reports None for them, which must not erase what the row remembers."""

MEMORY = ("Rss", "HeapTotal", "HeapUsed", "External", "ArrayBuffers")
"""Upstream's Node memory names; each has ``min``, ``current`` and ``max`` fields in the engine row."""

ENGINE_FIELDS = (
    "processCpuUsageInstant",
    "processCpuUsageAverage",
    "processUptime",
    "freeMemory",
    "totalMemory",
    *(f"{bound}{name}" for name in MEMORY for bound in ("min", "current", "max")),
)


def connector_row(kind: Kind, metrics_start: str) -> dict[str, Any]:
    """A zeroed row of a South or North, counting from ``metrics_start``."""
    row: dict[str, Any] = {"metricsStart": metrics_start}
    row.update(dict.fromkeys(LAST_VALUES[kind]))
    row.update(dict.fromkeys(COUNTERS[kind], 0))
    row.update(dict.fromkeys(GAUGES[kind], 0))
    return row


def engine_row(metrics_start: str) -> dict[str, Any]:
    """An engine row before its first sample (every value null until the sampler reports)."""
    row: dict[str, Any] = {"metricsStart": metrics_start}
    row.update(dict.fromkeys(ENGINE_FIELDS))
    return row
