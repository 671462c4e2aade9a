"""``POST /api/scan-modes/verify`` for every scan-mode shape: a cron or an interval, gated by an activation window.

The next runs are the ticks the scheduler would fire: an interval ticks every period from now, a cron at its
instants, and a tick outside the activation window is skipped, as ``timing.is_active`` decides for the
scheduler. The search is bounded (``SEARCH_LIMIT`` candidate ticks, ``SEARCH_HORIZON`` ahead): a window that
opens rarely lists the runs found in that horizon and says so, never spins.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from engine.scheduler import cron, timing
from engine.scheduler.cron import CronCheck

SEARCH_LIMIT = 600_000
"""Window checks at most: a minute-by-minute look a year ahead (a few seconds at worst, in a thread)."""
SEARCH_HORIZON = timedelta(days=366)
"""How far ahead runs are looked for."""
COARSE_STEP = timedelta(minutes=1)
"""While the window is closed, ticks are tried at most this far apart (less when the window opens for less
time), then the first tick inside is found going back one by one."""

_UNIT_NAMES = {"ms": "millisecond", "s": "second", "min": "minute", "hour": "hour", "h": "hour"}


def verify_timing(scan_mode: timing.Timing, *, now: datetime | None = None, count: int = 3) -> CronCheck:
    """Check ``scan_mode`` and give its next ``count`` runs (UTC ISO-8601) and a readable form.

    Field-named problems make it invalid (``errorMessage`` names each field), as the save would refuse it.
    Runs CPU-bound for up to ``SEARCH_LIMIT`` window checks: call it off the event loop.
    """
    errors = timing_errors(scan_mode)
    if errors:
        # A cron's problem reads as upstream's message (it quotes the expression); the others name their field.
        message = "; ".join(text if field == "cron" else f"{field}: {text}" for field, text in errors.items())
        return CronCheck(is_valid=False, error_message=message)
    start = (now or datetime.now(UTC)).astimezone()
    search = _interval_runs if scan_mode.type == "interval" else _cron_runs
    runs, searched = search(scan_mode, start, count)
    message = ""
    if len(runs) < count:
        message = (
            "the activation window has ended: this scan mode will not run again"
            if timing.is_expired(scan_mode.window, start)
            else f"only {len(runs)} of {count} runs in the next {_span(searched)}"
        )
    return CronCheck(
        is_valid=True,
        error_message=message,
        next_executions=[cron.iso_utc(run) for run in runs],
        human_readable_form=_describe(scan_mode),
    )


def timing_errors(scan_mode: timing.Timing) -> dict[str, str]:
    """Field-named problems of the cron or the interval, and of the activation window (empty when usable)."""
    errors = timing.interval_errors(scan_mode.interval) if scan_mode.type == "interval" else cron.errors(scan_mode.cron)
    errors.update(timing.window_errors(scan_mode.window))
    return errors


def _interval_runs(scan_mode: timing.Timing, start: datetime, count: int) -> tuple[list[datetime], timedelta]:
    """Ticks ``start + k * period`` (k >= 1) inside the window, and how far ahead was searched."""
    assert scan_mode.interval is not None
    window = scan_mode.window
    step = timedelta(seconds=scan_mode.interval.seconds)
    coarse = max(1, _shortest_opening(window) // step)
    runs: list[datetime] = []
    index, checks = 1, 0
    opens = _range_start(window)
    if opens is not None and opens > start + step:
        index = math.ceil((opens - start) / step)  # Straight to the date range's first tick.
    while len(runs) < count and checks < SEARCH_LIMIT and index * step <= SEARCH_HORIZON:
        checks += 1
        if timing.is_active(window, start + index * step):
            runs.append(start + index * step)
            index += 1
            continue
        # Closed: stride ahead until it is open, then take the first open tick of the last stride.
        previous = index
        while checks < SEARCH_LIMIT and index * step <= SEARCH_HORIZON:
            index += coarse
            checks += 1
            if timing.is_active(window, start + index * step):
                for back in range(max(previous + 1, index - coarse + 1), index):
                    checks += 1
                    if timing.is_active(window, start + back * step):
                        index = back
                        break
                break
    return runs, min(index * step, SEARCH_HORIZON)


def _cron_runs(scan_mode: timing.Timing, start: datetime, count: int) -> tuple[list[datetime], timedelta]:
    """The cron's instants inside the window, and how far ahead was searched."""
    from croniter import croniter

    iterator = croniter(" ".join(scan_mode.cron.split()), start, second_at_beginning=True)
    runs: list[datetime] = []
    tick = start
    for _ in range(SEARCH_LIMIT // 10):  # A croniter step costs about ten window checks.
        tick = iterator.get_next(datetime)
        if tick - start > SEARCH_HORIZON:
            break
        if timing.is_active(scan_mode.window, tick):
            runs.append(tick)
            if len(runs) == count:
                break
    return runs, min(tick - start, SEARCH_HORIZON)


def _shortest_opening(window: timing.ActivationWindow | None) -> timedelta:
    """A stride no longer than the shortest time the window stays open: striding never jumps over an opening."""
    shortest = COARSE_STEP
    if window is None:
        return shortest
    if window.recurring is not None and window.recurring.time_of_day is not None:
        opens, closes = (
            datetime.combine(datetime.min, timing.local_time(text))
            for text in (window.recurring.time_of_day.start, window.recurring.time_of_day.end)
        )
        shortest = min(shortest, (closes - opens) % timedelta(days=1))
    if window.date_range is not None and window.date_range.start and window.date_range.end:
        length = timing.parse_instant(window.date_range.end) - timing.parse_instant(window.date_range.start)
        shortest = min(shortest, max(length, timedelta(milliseconds=1)))
    return shortest


def _range_start(window: timing.ActivationWindow | None) -> datetime | None:
    if window is None or window.date_range is None or not window.date_range.start:
        return None
    return timing.parse_instant(window.date_range.start)


def _span(searched: timedelta) -> str:
    if searched >= timedelta(days=2):
        return f"{searched.days} days"
    if searched >= timedelta(hours=2):
        return f"{int(searched / timedelta(hours=1))} hours"
    return f"{max(1, int(searched / timedelta(minutes=1)))} minutes"


def _describe(scan_mode: timing.Timing) -> str:
    if scan_mode.type == "interval":
        assert scan_mode.interval is not None
        value, unit = scan_mode.interval.value, _UNIT_NAMES[scan_mode.interval.unit]
        text = f"every {unit}" if value == 1 else f"every {value} {unit}s"
    else:
        text = cron.describe(scan_mode.cron)
    return f"{text}, while the activation window is open" if scan_mode.window is not None else text
