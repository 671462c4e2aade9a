"""History windowing: golden interval arithmetic and the tracked-instant rules of run_history."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest

from engine.history.windowing import (
    Interval,
    RecoveryStrategy,
    history_intervals,
    history_window,
    run_history,
    split_interval,
)


def at(text: str) -> datetime:
    """Parse a compact UTC instant of the golden table: ``"01:30"`` is 2026-03-29T01:30:00Z."""
    if len(text) == 5:
        text = f"2026-03-29T{text}:00"
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def spans(intervals: list[Interval]) -> list[tuple[str, str]]:
    return [(f"{start:%H:%M:%S}", f"{end:%H:%M:%S}") for start, end in intervals]


# (case, start, end, tracked, start offset ms, end offset ms, maxReadInterval s, strategy, expected)
GOLDEN: list[tuple[str, str, str, str | None, int, int, int, RecoveryStrategy, list[tuple[str, str]]]] = [
    (
        "three exact hours",
        "00:00",
        "03:00",
        None,
        0,
        0,
        3600,
        "oldest",
        [("00:00:00", "01:00:00"), ("01:00:00", "02:00:00"), ("02:00:00", "03:00:00")],
    ),
    (
        "last interval is shorter",
        "00:00",
        "02:30",
        None,
        0,
        0,
        3600,
        "oldest",
        [("00:00:00", "01:00:00"), ("01:00:00", "02:00:00"), ("02:00:00", "02:30:00")],
    ),
    ("shorter than one interval", "00:00", "00:10", None, 0, 0, 3600, "oldest", [("00:00:00", "00:10:00")]),
    ("no limit", "00:00", "05:00", None, 0, 0, 0, "oldest", [("00:00:00", "05:00:00")]),
    (
        "tracked instant replaces the start",
        "00:00",
        "03:00",
        "01:15",
        0,
        0,
        3600,
        "oldest",
        [("01:15:00", "02:15:00"), ("02:15:00", "03:00:00")],
    ),
    (
        "tracked instant older than the requested start catches up",
        "02:00",
        "03:00",
        "00:30",
        0,
        0,
        3600,
        "oldest",
        [("00:30:00", "01:30:00"), ("01:30:00", "02:30:00"), ("02:30:00", "03:00:00")],
    ),
    (
        "offsets move both ends",
        "00:00",
        "01:00",
        None,
        -60_000,
        -1_000,
        3600,
        "oldest",
        [("23:59:00", "00:59:00"), ("00:59:00", "00:59:59")],
    ),
    ("tracked instant at the end: skip", "00:00", "03:00", "03:00", 0, 0, 3600, "oldest", []),
    ("tracked instant after the end: skip", "00:00", "03:00", "04:00", 0, 0, 3600, "oldest", []),
    ("end before start: skip", "03:00", "01:00", None, 0, 0, 3600, "oldest", []),
    ("offsets that empty the window: skip", "00:00", "00:01", None, 30_000, -30_000, 3600, "oldest", []),
    (
        "newest reverses",
        "00:00",
        "02:30",
        None,
        0,
        0,
        3600,
        "newest",
        [("02:00:00", "02:30:00"), ("01:00:00", "02:00:00"), ("00:00:00", "01:00:00")],
    ),
    (
        "ten-minute intervals",
        "00:00",
        "00:25",
        None,
        0,
        0,
        600,
        "oldest",
        [("00:00:00", "00:10:00"), ("00:10:00", "00:20:00"), ("00:20:00", "00:25:00")],
    ),
]


@pytest.mark.parametrize(
    ("start", "end", "tracked", "start_offset", "end_offset", "max_read", "strategy", "expected"),
    [case[1:] for case in GOLDEN],
    ids=[case[0] for case in GOLDEN],
)
def test_golden_intervals(
    start: str,
    end: str,
    tracked: str | None,
    start_offset: int,
    end_offset: int,
    max_read: int,
    strategy: RecoveryStrategy,
    expected: list[tuple[str, str]],
) -> None:
    intervals = history_intervals(
        at(start),
        at(end),
        tracked_instant=at(tracked) if tracked else None,
        start_time_offset_ms=start_offset,
        end_time_offset_ms=end_offset,
        max_read_interval_s=max_read,
        strategy=strategy,
    )
    assert spans(intervals) == expected
    assert all(interval.start.tzinfo is UTC and interval.end.tzinfo is UTC for interval in intervals)


def test_count_is_the_ceiling_of_range_over_max_read_interval() -> None:
    start = at("00:00")
    # One microsecond past an exact multiple needs one more (tiny) interval; an exact multiple does not.
    assert len(split_interval(start, start + timedelta(hours=2), 3600)) == 2
    over = split_interval(start, start + timedelta(hours=2, microseconds=1), 3600)
    assert len(over) == 3
    assert over[-1] == Interval(start + timedelta(hours=2), start + timedelta(hours=2, microseconds=1))
    # A day split in 1-second reads: consecutive, gap-free, exactly 86 400 of them.
    day = split_interval(start, start + timedelta(days=1), 1)
    assert len(day) == 86_400
    assert all(previous.end == following.start for previous, following in itertools.pairwise(day))


def test_other_offsets_are_normalised_to_utc() -> None:
    # 2026-03-29 is the spring-forward night in Europe: fixed offsets on each side give the same UTC span.
    before = datetime(2026, 3, 29, 1, 0, tzinfo=timezone(timedelta(hours=1)))
    after = datetime(2026, 3, 29, 4, 0, tzinfo=timezone(timedelta(hours=2)))
    intervals = split_interval(before, after, 3600)
    assert spans(intervals) == [("00:00:00", "01:00:00"), ("01:00:00", "02:00:00")]
    assert intervals[0].start == at("00:00")


def test_window_and_naive_datetimes() -> None:
    assert history_window(at("00:00"), at("01:00")) == Interval(at("00:00"), at("01:00"))
    assert history_window(at("01:00"), at("01:00")) is None
    with pytest.raises(ValueError, match="time zone"):
        history_window(datetime(2026, 1, 1), at("01:00"))


class Recorder:
    """A history query that returns scripted instants and records what it was asked and what was saved."""

    def __init__(self, results: list[datetime | None], fail_at: int | None = None) -> None:
        self.results = results
        self.fail_at = fail_at
        self.queried: list[tuple[datetime, datetime]] = []
        self.saved: list[datetime] = []
        self.sleeps: list[float] = []
        self.timeline: list[str] = []

    async def query(self, start: datetime, end: datetime) -> datetime | None:
        index = len(self.queried)
        self.queried.append((start, end))
        self.timeline.append(f"query{index}")
        if index == self.fail_at:
            raise ConnectionError("source went away")
        return self.results[index]

    def save(self, instant: datetime) -> None:
        self.saved.append(instant)
        self.timeline.append("save")

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.timeline.append("sleep")


THREE = history_intervals(at("00:00"), at("03:00"), max_read_interval_s=3600)
THREE_NEWEST = history_intervals(at("00:00"), at("03:00"), max_read_interval_s=3600, strategy="newest")


async def test_oldest_saves_after_each_interval_that_advanced() -> None:
    recorder = Recorder([at("00:59"), None, at("02:58")])
    newest = await run_history(recorder.query, THREE, 200, recorder.save, "oldest", sleep=recorder.sleep)
    assert recorder.queried == [tuple(interval) for interval in THREE]
    assert recorder.saved == [at("00:59"), at("02:58")]
    assert recorder.timeline == ["query0", "save", "sleep", "query1", "sleep", "query2", "save"]
    assert recorder.sleeps == [0.2, 0.2]
    assert newest == at("02:58")


async def test_oldest_never_moves_the_tracked_instant_back() -> None:
    recorder = Recorder([at("00:30"), at("00:20"), at("01:30")])
    newest = await run_history(
        recorder.query, THREE, 0, recorder.save, "oldest", tracked_instant=at("00:40"), sleep=recorder.sleep
    )
    assert recorder.saved == [at("01:30")]
    assert recorder.sleeps == []
    assert newest == at("01:30")


async def test_oldest_keeps_progress_made_before_a_failure() -> None:
    recorder = Recorder([at("00:59"), None, None], fail_at=1)
    with pytest.raises(ConnectionError):
        await run_history(recorder.query, THREE, 200, recorder.save, "oldest", sleep=recorder.sleep)
    assert recorder.saved == [at("00:59")]


async def test_newest_reads_newest_first_and_saves_once_at_the_end() -> None:
    recorder = Recorder([at("02:59"), at("01:59"), at("00:59")])
    newest = await run_history(recorder.query, THREE_NEWEST, 200, recorder.save, "newest", sleep=recorder.sleep)
    assert recorder.queried[0] == (at("02:00"), at("03:00"))
    assert recorder.saved == [at("02:59")]
    assert recorder.timeline[-1] == "save"
    assert recorder.timeline.count("save") == 1
    assert newest == at("02:59")


async def test_newest_saves_nothing_when_interrupted() -> None:
    recorder = Recorder([at("02:59"), None, None], fail_at=1)
    with pytest.raises(ConnectionError):
        await run_history(recorder.query, THREE_NEWEST, 200, recorder.save, "newest", sleep=recorder.sleep)
    assert recorder.saved == []


async def test_nothing_read_saves_nothing() -> None:
    recorder = Recorder([None, None, None])
    assert await run_history(recorder.query, THREE, 0, recorder.save, "newest", sleep=recorder.sleep) is None
    assert await run_history(recorder.query, [], 0, recorder.save, "oldest", sleep=recorder.sleep) is None
    assert recorder.saved == []
