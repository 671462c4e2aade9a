"""History windowing: which intervals a history-capable South reads, and when its tracked instant moves.

Upstream rules (reference §3.2): the window starts at the tracked instant (or the requested start when
nothing is tracked yet) plus ``startTimeOffset`` and ends at the requested end plus ``endTimeOffset``; an
empty window is skipped; a window longer than ``maxReadInterval`` (SECONDS) is split into
``ceil(range / maxReadInterval)`` intervals; ``readDelay`` (ms) separates two reads. With the ``oldest``
recovery strategy the intervals run oldest first and the tracked instant is saved after each interval that
advanced it; with ``newest`` they run newest first and the instant is saved once, after all of them, so a
restart in the middle of a catch-up does it again rather than leaving a hole.

All arithmetic is on aware datetimes normalised to UTC, so daylight-saving changes play no part.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Literal, NamedTuple

__all__ = [
    "DEFAULT_MAX_READ_INTERVAL_S",
    "DEFAULT_READ_DELAY_MS",
    "Interval",
    "RecoveryStrategy",
    "history_intervals",
    "history_window",
    "run_history",
    "split_interval",
]

RecoveryStrategy = Literal["oldest", "newest"]

DEFAULT_MAX_READ_INTERVAL_S = 3600
"""Upstream default of ``maxReadInterval`` (seconds); also the window of a scheduled run's first read."""

DEFAULT_READ_DELAY_MS = 200
"""Upstream default of ``readDelay`` (milliseconds)."""

_ONE_MICROSECOND = timedelta(microseconds=1)


class Interval(NamedTuple):
    """One read: ``[start, end]`` in UTC."""

    start: datetime
    end: datetime


def _utc(instant: datetime, name: str) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{name} {instant!r} has no time zone; pass an aware datetime")
    return instant.astimezone(UTC)


def history_window(
    start: datetime,
    end: datetime,
    *,
    tracked_instant: datetime | None = None,
    start_time_offset_ms: int = 0,
    end_time_offset_ms: int = 0,
) -> Interval | None:
    """Return the window to read, or ``None`` when it is empty (``end <= start``).

    The tracked instant, when there is one, replaces the requested start: that is how a South catches up on
    what it missed while it was stopped. The offsets are added (a negative ``startTimeOffset`` re-reads an
    overlap, as upstream 3.8's ``overlap`` did).
    """
    base = _utc(tracked_instant, "tracked_instant") if tracked_instant is not None else _utc(start, "start")
    window_start = base + timedelta(milliseconds=start_time_offset_ms)
    window_end = _utc(end, "end") + timedelta(milliseconds=end_time_offset_ms)
    if window_end <= window_start:
        return None
    return Interval(window_start, window_end)


def split_interval(start: datetime, end: datetime, max_read_interval_s: int) -> list[Interval]:
    """Split ``[start, end]`` into ``ceil(range / maxReadInterval)`` consecutive intervals, oldest first.

    Every interval lasts ``max_read_interval_s`` seconds but the last, which ends at ``end``. A non-positive
    ``max_read_interval_s`` means "no limit": one interval. An empty range gives no interval.
    """
    start = _utc(start, "start")
    end = _utc(end, "end")
    if end <= start:
        return []
    if max_read_interval_s <= 0:
        return [Interval(start, end)]
    step = timedelta(seconds=max_read_interval_s)
    # Ceiling division on integer microseconds keeps the count exact: float division of timedeltas could
    # round an exact multiple up and add an empty interval.
    count = -(-((end - start) // _ONE_MICROSECOND) // (step // _ONE_MICROSECOND))
    return [Interval(start + index * step, min(start + (index + 1) * step, end)) for index in range(count)]


def history_intervals(
    start: datetime,
    end: datetime,
    *,
    tracked_instant: datetime | None = None,
    start_time_offset_ms: int = 0,
    end_time_offset_ms: int = 0,
    max_read_interval_s: int = DEFAULT_MAX_READ_INTERVAL_S,
    strategy: RecoveryStrategy = "oldest",
) -> list[Interval]:
    """Return the intervals of one history run, in reading order (empty: nothing to read)."""
    window = history_window(
        start,
        end,
        tracked_instant=tracked_instant,
        start_time_offset_ms=start_time_offset_ms,
        end_time_offset_ms=end_time_offset_ms,
    )
    if window is None:
        return []
    intervals = split_interval(window.start, window.end, max_read_interval_s)
    if strategy == "newest":
        intervals.reverse()
    return intervals


async def run_history(
    query: Callable[[datetime, datetime], Awaitable[datetime | None]],
    intervals: list[Interval],
    read_delay_ms: int,
    save_instant: Callable[[datetime], None],
    strategy: RecoveryStrategy,
    *,
    tracked_instant: datetime | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> datetime | None:
    """Read ``intervals`` one after the other and move the tracked instant as the strategy says.

    ``query(start, end)`` reads one interval, hands its data over (returning only once it is acknowledged)
    and returns the newest instant it read, or ``None`` when it read nothing. The instant is saved only
    when it advances past ``tracked_instant`` (the one in the cache when the run began): with ``oldest``
    after each such interval, with ``newest`` once after the last interval. An exception from ``query``
    propagates; with ``oldest`` the intervals done before it stay saved. Returns the newest instant read.
    """
    newest = tracked_instant
    advanced = False
    for index, (start, end) in enumerate(intervals):
        if index and read_delay_ms > 0:
            await sleep(read_delay_ms / 1000)
        instant = await query(start, end)
        if instant is None or (newest is not None and instant <= newest):
            continue
        newest = instant
        advanced = True
        if strategy == "oldest":
            save_instant(instant)
    if strategy == "newest" and advanced and newest is not None:
        save_instant(newest)
    return newest if advanced else None
