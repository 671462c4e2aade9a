"""Interval scan modes and activation windows, driven by an injected clock (hours of schedule in milliseconds)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from engine.scheduler.scheduler import Scheduler
from engine.scheduler.timing import (
    ActivationWindow,
    DateRange,
    Recurring,
    ScanModeInterval,
    TimeOfDay,
    Timing,
    interval_errors,
    is_active,
    is_expired,
    window_errors,
)

BASE = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday


class FakeClock:
    """Time moves only when the scheduler sleeps; each sleep yields once to the loop."""

    def __init__(self, start: datetime = BASE) -> None:
        self.start = start
        self.elapsed = 0.0
        self.fired_at: list[float] = []

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return self.elapsed

    async def sleep(self, seconds: float) -> None:
        self.elapsed += seconds
        await asyncio.sleep(0)


async def run_until(clock: FakeClock, timing: Timing, done: Callable[[list[float]], bool]) -> list[float]:
    """Fire times (virtual seconds since start) of one scan mode until ``done`` says stop."""
    fired: list[float] = []
    scheduler = Scheduler(lambda _: fired.append(clock.elapsed), clock)
    async with asyncio.TaskGroup() as group:
        scheduler.start(group, {"mode": timing})
        for _ in range(100_000):
            if done(fired):
                break
            await asyncio.sleep(0)
        else:
            raise AssertionError(f"never done; fired {fired[:10]}")
        await scheduler.stop()
    return fired


def every(ms: int) -> ScanModeInterval:
    return ScanModeInterval(value=ms, unit="ms")


async def test_a_500_ms_interval_fires_twice_a_second_for_a_minute() -> None:
    clock = FakeClock()
    fired = await run_until(clock, Timing(type="interval", interval=every(500)), lambda f: clock.elapsed > 61)
    in_minute = [when for when in fired if when <= 60.0]
    assert len(in_minute) == 120
    assert in_minute[0] == pytest.approx(0.5) and in_minute[-1] == pytest.approx(60.0)


async def test_units_give_the_period() -> None:
    for unit, seconds in (("s", 2.0), ("min", 120.0), ("hour", 7200.0), ("h", 7200.0)):
        clock = FakeClock()
        timing = Timing(type="interval", interval=ScanModeInterval(value=2, unit=unit))  # type: ignore[arg-type]
        fired = await run_until(clock, timing, lambda f: len(f) >= 3)
        assert fired == pytest.approx([seconds, 2 * seconds, 3 * seconds]), unit


async def test_a_window_that_excludes_now_stops_ticks_and_they_resume_when_it_opens() -> None:
    window = ActivationWindow(
        date_range=DateRange(
            start=(BASE + timedelta(seconds=10)).isoformat(), end=(BASE + timedelta(seconds=20)).isoformat()
        )
    )
    clock = FakeClock()
    timing = Timing(type="interval", interval=ScanModeInterval(value=1, unit="s"), window=window)
    fired = await run_until(clock, timing, lambda f: clock.elapsed >= 30)
    # Nothing while closed (1 … 9 s), every tick while open (10 … 20 s inclusive), nothing after.
    assert fired == pytest.approx([float(second) for second in range(10, 21)])


async def test_a_cron_is_gated_by_the_window_too() -> None:
    # Recurring: 08:00:05 to 08:00:08 in Paris is 07:00:05-08 UTC; the clock starts at 07:00:00 UTC.
    window = ActivationWindow(
        recurring=Recurring(timezone="Europe/Paris", time_of_day=TimeOfDay(start="08:00:05", end="08:00:08"))
    )
    clock = FakeClock(datetime(2026, 3, 2, 7, 0, tzinfo=UTC))
    fired = await run_until(clock, Timing(cron="* * * * * *", window=window), lambda f: clock.elapsed >= 12)
    assert [round(when) for when in fired] == [5, 6, 7]


async def test_missed_interval_slots_are_skipped_not_burst() -> None:
    clock = FakeClock()
    fired: list[float] = []

    def slow(_: str) -> None:
        fired.append(clock.elapsed)
        if len(fired) == 2:
            clock.elapsed += 3.2  # the callback blocked for 3.2 s: six slots passed meanwhile

    scheduler = Scheduler(slow, clock)
    async with asyncio.TaskGroup() as group:
        scheduler.start(group, {"mode": Timing(type="interval", interval=every(500))})
        for _ in range(100_000):
            if clock.elapsed >= 6:
                break
            await asyncio.sleep(0)
        await scheduler.stop()
    gaps = [later - earlier for earlier, later in itertools.pairwise(fired)]
    assert all(gap >= 0.5 - 1e-9 for gap in gaps), fired  # never two ticks at once
    assert fired[2] == pytest.approx(4.5)  # back on the grid (start + n x 500 ms), not drifting


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_days_of_week_count_sunday_as_zero() -> None:
    weekend = ActivationWindow(recurring=Recurring(timezone="UTC", days_of_week=[6, 0]))
    assert is_active(weekend, at("2026-03-07T12:00:00+00:00"))  # Saturday
    assert is_active(weekend, at("2026-03-08T23:59:00+00:00"))  # Sunday
    assert not is_active(weekend, at("2026-03-09T00:00:00+00:00"))  # Monday


def test_overnight_time_of_day_belongs_to_the_day_it_opened() -> None:
    friday_night = ActivationWindow(
        recurring=Recurring(timezone="UTC", days_of_week=[5], time_of_day=TimeOfDay(start="22:00", end="02:00"))
    )
    assert is_active(friday_night, at("2026-03-06T23:00:00+00:00"))  # Friday 23:00
    assert is_active(friday_night, at("2026-03-07T01:59:00+00:00"))  # Saturday 01:59, still Friday's night
    assert not is_active(friday_night, at("2026-03-07T02:00:00+00:00"))  # end is exclusive
    assert not is_active(friday_night, at("2026-03-07T23:00:00+00:00"))  # Saturday night is not in it


def test_time_of_day_follows_daylight_saving_time() -> None:
    nine_paris = ActivationWindow(
        recurring=Recurring(timezone="Europe/Paris", time_of_day=TimeOfDay(start="09:00", end="10:00"))
    )
    assert is_active(nine_paris, at("2026-01-15T08:30:00+00:00"))  # winter: UTC+1
    assert not is_active(nine_paris, at("2026-07-15T08:30:00+00:00"))  # summer: UTC+2, it is 10:30
    assert is_active(nine_paris, at("2026-07-15T07:30:00+00:00"))


def test_date_range_bounds_are_inclusive_and_expiry_is_computed() -> None:
    window = ActivationWindow(date_range=DateRange(start="2026-08-01T00:00:00.000Z", end="2026-08-31T00:00:00Z"))
    assert is_active(window, at("2026-08-01T00:00:00+00:00"))
    assert is_active(window, at("2026-08-31T00:00:00+00:00"))
    assert not is_active(window, at("2026-08-31T00:00:01+00:00"))
    assert not is_expired(window, at("2026-08-30T00:00:00+00:00"))
    assert is_expired(window, at("2026-09-01T00:00:00+00:00"))
    assert is_active(None, BASE) and not is_expired(None, BASE)


def test_bad_windows_and_intervals_name_every_field() -> None:
    window = ActivationWindow(
        date_range=DateRange(start="yesterday", end="2026-08-01T00:00:00"),
        recurring=Recurring(
            timezone="Mars/Olympus", days_of_week=[1, 7], time_of_day=TimeOfDay(start="25:00", end="9")
        ),
    )
    errors = window_errors(window)
    assert set(errors) == {
        "activationWindow.dateRange.start",
        "activationWindow.dateRange.end",
        "activationWindow.recurring.timezone",
        "activationWindow.recurring.daysOfWeek[1]",
        "activationWindow.recurring.timeOfDay.start",
        "activationWindow.recurring.timeOfDay.end",
    }
    assert "Mars/Olympus" in errors["activationWindow.recurring.timezone"]
    reversed_range = ActivationWindow(date_range=DateRange(start="2026-08-02T00:00:00Z", end="2026-08-01T00:00:00Z"))
    assert window_errors(reversed_range) == {"activationWindow.dateRange.end": "must not be before start"}
    assert interval_errors(None) == {"interval": "required when type is 'interval'"}
    assert "100 ms" in interval_errors(every(50))["interval.value"]
    assert interval_errors(every(100)) == {}
