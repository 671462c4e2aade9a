"""The last hour of throughput and cache size in ``metrics.db``: points, rates, pruning, persistence.

The route is tested in test_metrics_api_functional.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from test_metrics_store import FakeSampler, clock

from engine.metrics import MetricsStore

SOUTH = "south:s1"
NORTH = "north:n1"


class Wall:
    """A settable Unix clock."""

    def __init__(self, at: float) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


def _store(path: Path, wall: Wall) -> MetricsStore:
    return MetricsStore(path, sampler=FakeSampler([10]), clock=clock(), wall=wall)


def _stored_times(path: Path) -> list[float]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT time FROM oibus_metrics_history ORDER BY time")]


async def test_points_give_rates_and_cache_sizes(tmp_path: Path) -> None:
    wall = Wall(1_000_000.0)
    async with _store(tmp_path / "metrics.db", wall) as metrics:
        metrics.record(SOUTH, {"numberOfValuesRetrieved": 0, "numberOfFilesRetrieved": 0})
        metrics.record(NORTH, {"currentCacheSize": 100})
        await metrics.tick()
        wall.at += 10
        metrics.record(SOUTH, {"numberOfValuesRetrieved": 50, "numberOfFilesRetrieved": 20})
        metrics.record(NORTH, {"currentCacheSize": 300})
        await metrics.tick()
        # Not yet a step later: no new point.
        wall.at += 4
        metrics.record(SOUTH, {"numberOfValuesRetrieved": 90, "numberOfFilesRetrieved": 20})
        await metrics.tick()
        series = metrics.series(3600)
        assert series.times == [1_000_010.0]
        assert series.values_per_second == [5.0]
        assert series.files_per_second == [2.0]
        assert series.cache_size == [300.0]
        wall.at += 6
        await metrics.tick()
        assert metrics.series(3600).values_per_second == [5.0, 4.0]


async def test_a_reset_counts_as_no_throughput_not_a_negative_one(tmp_path: Path) -> None:
    wall = Wall(1_000_000.0)
    async with _store(tmp_path / "metrics.db", wall) as metrics:
        metrics.record(SOUTH, {"numberOfValuesRetrieved": 500})
        await metrics.tick()
        metrics.reset("south", "s1")
        wall.at += 10
        await metrics.tick()
        assert metrics.series(3600).values_per_second == [0.0]


async def test_points_older_than_an_hour_go_and_the_hour_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "metrics.db"
    wall = Wall(1_000_000.0)
    async with _store(path, wall) as metrics:
        for _ in range(5):
            await metrics.tick()
            wall.at += 1000
        # Points at +0, +1000, +2000, +3000, +4000: the first is more than an hour before the last.
        assert _stored_times(path) == [1_001_000.0, 1_002_000.0, 1_003_000.0, 1_004_000.0]
    wall.at = 1_004_500.0
    async with _store(path, wall) as metrics:
        # Back from the file: only what is within the hour, and rates between the points kept.
        assert metrics.series(3600).times == [1_002_000.0, 1_003_000.0, 1_004_000.0]
        assert metrics.series(600).times == [1_004_000.0]
