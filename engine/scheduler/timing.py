"""When a scan mode ticks: a cron or a fixed interval, gated by an optional activation window (upstream v3.10).

The window is a filter on ticks, never a queue: a tick that falls outside it is skipped, not deferred. The
date range is a pair of instants; the recurring rule (days of week, time of day) is civil time in an IANA
zone, so "Monday 08:00" follows daylight saving time.
"""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

ScanModeType = Literal["cron", "interval"]
# Upstream's units are ``ms, s, min, hour``; ``h`` is accepted too, as the issue names it.
IntervalUnit = Literal["ms", "s", "min", "hour", "h"]
UNIT_SECONDS: dict[str, float] = {"ms": 0.001, "s": 1.0, "min": 60.0, "hour": 3600.0, "h": 3600.0}
MIN_INTERVAL_S = 0.1
"""Shortest period: below it a South would spend its life starting scans it cannot finish."""
MAX_INTERVAL_S = 366 * 24 * 3600.0

_LOCAL_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")


class _Wire(msgspec.Struct, frozen=True, kw_only=True, rename="camel", forbid_unknown_fields=False):
    """camelCase on the wire, as every configuration model."""


class ScanModeInterval(_Wire, frozen=True, kw_only=True):
    """Fixed period between two ticks: ``value`` ``unit``s."""

    value: Annotated[int, msgspec.Meta(ge=1, description="How many units between two ticks")]
    unit: Annotated[IntervalUnit, msgspec.Meta(description="ms, s, min or hour")]

    @property
    def seconds(self) -> float:
        """The period in seconds."""
        return self.value * UNIT_SECONDS[self.unit]


class DateRange(_Wire, frozen=True, kw_only=True):
    """Absolute bounds (ISO-8601 instants, both inclusive); a missing side is open-ended."""

    start: str | None = None
    end: str | None = None


class TimeOfDay(_Wire, frozen=True, kw_only=True):
    """Local ``HH:MM`` bounds: ``start`` inclusive, ``end`` exclusive; ``end`` before ``start`` spans midnight."""

    start: str
    end: str


class Recurring(_Wire, frozen=True, kw_only=True):
    """Days of week (0 = Sunday … 6 = Saturday; empty = every day) and a time of day, in ``timezone``."""

    timezone: str
    days_of_week: list[int] | None = None
    time_of_day: TimeOfDay | None = None


class ActivationWindow(_Wire, frozen=True, kw_only=True):
    """A gate on every tick: the date range AND the recurring rule must both hold."""

    date_range: DateRange | None = None
    recurring: Recurring | None = None


class Timing(msgspec.Struct, frozen=True, kw_only=True):
    """What the scheduler needs of one scan mode."""

    type: ScanModeType = "cron"
    cron: str = ""
    interval: ScanModeInterval | None = None
    window: ActivationWindow | None = None

    @property
    def scheduled(self) -> bool:
        """False for a scan mode fired only by hand (``subscription``: empty cron)."""
        return self.interval is not None if self.type == "interval" else bool(self.cron.strip())


def parse_instant(text: str) -> datetime:
    """An aware datetime from ISO-8601 (``Z`` accepted); ``ValueError`` otherwise."""
    instant = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if instant.tzinfo is None:
        raise ValueError("an instant needs a zone (Z or +hh:mm)")
    return instant


def local_time(text: str) -> time:
    """``HH:MM`` or ``HH:MM:SS`` as a time; ``ValueError`` naming the expected form otherwise."""
    match = _LOCAL_TIME.match(text)
    if not match:
        raise ValueError(f"expected HH:MM (00:00 to 23:59), got {text!r}")
    return time(int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))


def interval_errors(interval: ScanModeInterval | None, path: str = "interval") -> dict[str, str]:
    """Field-named problems of an interval (empty when it is usable)."""
    if interval is None:
        return {path: "required when type is 'interval'"}
    seconds = interval.seconds
    if seconds < MIN_INTERVAL_S:
        return {f"{path}.value": f"the period must be at least {int(MIN_INTERVAL_S * 1000)} ms"}
    if seconds > MAX_INTERVAL_S:
        return {f"{path}.value": "the period must be at most 366 days"}
    return {}


def window_errors(window: ActivationWindow | None, path: str = "activationWindow") -> dict[str, str]:
    """Field-named problems of an activation window (empty when it is usable)."""
    errors: dict[str, str] = {}
    if window is None:
        return errors
    bounds: dict[str, datetime] = {}
    if window.date_range is not None:
        for side in ("start", "end"):
            text = getattr(window.date_range, side)
            if text is None or not text.strip():
                continue
            try:
                bounds[side] = parse_instant(text)
            except ValueError as err:
                errors[f"{path}.dateRange.{side}"] = f"not an ISO-8601 instant ({err})"
        if "start" in bounds and "end" in bounds and bounds["end"] < bounds["start"]:
            errors[f"{path}.dateRange.end"] = "must not be before start"
    recurring = window.recurring
    if recurring is not None:
        try:
            ZoneInfo(recurring.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            errors[f"{path}.recurring.timezone"] = f"unknown IANA time zone {recurring.timezone!r}"
        for index, day in enumerate(recurring.days_of_week or []):
            if not 0 <= day <= 6:
                errors[f"{path}.recurring.daysOfWeek[{index}]"] = f"expected 0 (Sunday) to 6 (Saturday), got {day}"
        if recurring.time_of_day is not None:
            for side in ("start", "end"):
                try:
                    local_time(getattr(recurring.time_of_day, side))
                except ValueError as err:
                    errors[f"{path}.recurring.timeOfDay.{side}"] = str(err)
            if not errors and recurring.time_of_day.start == recurring.time_of_day.end:
                errors[f"{path}.recurring.timeOfDay.end"] = "must differ from start (the window would never open)"
    return errors


def is_active(window: ActivationWindow | None, instant: datetime) -> bool:
    """Whether a tick at ``instant`` (aware) may fire. The window must be valid (``window_errors`` empty)."""
    if window is None:
        return True
    if window.date_range is not None:
        if window.date_range.start and instant < parse_instant(window.date_range.start):
            return False
        if window.date_range.end and instant > parse_instant(window.date_range.end):
            return False
    recurring = window.recurring
    if recurring is None:
        return True
    local = instant.astimezone(ZoneInfo(recurring.timezone))
    days = set(recurring.days_of_week or [])
    # isoweekday: Monday 1 … Sunday 7; upstream counts Sunday 0 … Saturday 6.
    weekday = local.isoweekday() % 7
    if recurring.time_of_day is None:
        return not days or weekday in days
    start = local_time(recurring.time_of_day.start)
    end = local_time(recurring.time_of_day.end)
    now = local.time().replace(tzinfo=None)
    if start < end:
        return start <= now < end and (not days or weekday in days)
    # Overnight (22:00 → 02:00): the part after midnight belongs to the day the window opened.
    if now >= start:
        return not days or weekday in days
    if now < end:
        return not days or (weekday - 1) % 7 in days
    return False


def is_expired(window: ActivationWindow | None, instant: datetime) -> bool:
    """Whether the window can never open again (its end is past)."""
    if window is None or window.date_range is None or not window.date_range.end:
        return False
    try:
        return parse_instant(window.date_range.end) < instant
    except ValueError:
        return False
