"""The next runs a scan mode's check lists: the scheduler's ticks, less those its activation window excludes."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from engine.scheduler.timing import ActivationWindow, DateRange, Recurring, ScanModeInterval, TimeOfDay, Timing
from engine.scheduler.verify import verify_timing

NOW = datetime(2026, 12, 8, 10, 0, 0, 250_000, tzinfo=UTC)  # a Tuesday


def runs(check_runs: list[str]) -> list[datetime]:
    return [datetime.fromisoformat(run.replace("Z", "+00:00")) for run in check_runs]


def test_a_fast_interval_reaches_a_window_that_opens_days_later_on_a_tick() -> None:
    opens = NOW + timedelta(days=3, hours=2, seconds=0.37)
    window = ActivationWindow(date_range=DateRange(start=opens.isoformat()))
    scan_mode = Timing(type="interval", interval=ScanModeInterval(value=100, unit="ms"), window=window)
    check = verify_timing(scan_mode, now=NOW, count=3)
    first, second, third = runs(check.next_executions)
    assert opens <= first < opens + timedelta(milliseconds=100)
    assert (second - first, third - second) == (timedelta(milliseconds=100),) * 2
    assert (first - NOW) % timedelta(milliseconds=100) == timedelta(0)  # still on the interval's grid
    assert check.error_message == ""


def test_the_first_tick_inside_a_time_of_day_window_is_found_not_skipped() -> None:
    window = ActivationWindow(
        recurring=Recurring(timezone="Europe/Paris", time_of_day=TimeOfDay(start="09:00", end="09:01"))
    )
    scan_mode = Timing(type="interval", interval=ScanModeInterval(value=7, unit="s"), window=window)
    check = verify_timing(scan_mode, now=NOW, count=10)
    local = [run.astimezone(ZoneInfo("Europe/Paris")) for run in runs(check.next_executions)]
    # Tomorrow 09:00:00-09:00:59 Paris (eight ticks 7 s apart fit, the first within 7 s of the opening), then
    # the day after, again from its first tick inside.
    assert [run.day for run in local] == [9] * 8 + [10] * 2
    assert local[0].replace(tzinfo=None) - datetime(2026, 12, 9, 9, 0) < timedelta(seconds=7)
    assert local[8].replace(tzinfo=None) - datetime(2026, 12, 10, 9, 0) < timedelta(seconds=7)
    assert all(run.hour == 9 and run.minute == 0 for run in local)
    assert {later - earlier for earlier, later in itertools.pairwise(local[:8])} == {timedelta(seconds=7)}


def test_a_window_that_never_opens_in_the_horizon_says_how_far_it_looked() -> None:
    far = ActivationWindow(date_range=DateRange(start="2030-01-01T00:00:00Z"))
    check = verify_timing(Timing(type="interval", interval=ScanModeInterval(value=1, unit="s"), window=far), now=NOW)
    assert check.is_valid and check.next_executions == [] and "0 of 3 runs in the next 366 days" in check.error_message
    cron_check = verify_timing(Timing(cron="0 0 0 1 1 *", window=far), now=NOW)
    assert cron_check.is_valid and cron_check.next_executions == [] and "0 of 3" in cron_check.error_message


def test_without_a_window_runs_are_the_plain_ticks() -> None:
    check = verify_timing(Timing(type="interval", interval=ScanModeInterval(value=2, unit="min")), now=NOW, count=2)
    assert runs(check.next_executions) == [NOW + timedelta(minutes=2), NOW + timedelta(minutes=4)]
    assert check.human_readable_form == "every 2 minutes"
    check = verify_timing(Timing(cron="*/10 * * * * *"), now=NOW, count=2)
    assert check.human_readable_form == "every 10 seconds" and len(check.next_executions) == 2
