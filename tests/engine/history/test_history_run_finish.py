"""When a running history query counts as done: its South read everything, and its North's cache is empty.

The North's metrics frames are periodic: one sent before the North stored the last window reads an empty
queue while that window still waits in the cache. A run must not finish on such a frame (its North would be
stopped with the window unsent), only on metrics that came after the North's last ``Stored``.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from engine.history_query.runs import HistoryRun
from engine.ipc.messages import Metrics, Stored

SOUTH_DONE = {"historyMetrics": {"finished": True}}
NORTH_EMPTY = {"numberOfQueuedFiles": 0, "numberOfQueuedElements": 0}


def a_run(tmp_path: Path) -> HistoryRun:
    runs: Any = SimpleNamespace(knobs=None, data_dir=tmp_path, store_timeout_s=5.0, source=None, custom=None)
    return HistoryRun(runs, {"id": "h1", "name": "backfill", "northType": "file-writer", "items": []})


def done(run: HistoryRun) -> bool:
    """The property read afresh (mypy would otherwise narrow it after the first assert)."""
    return run.finished


def test_empty_north_metrics_older_than_the_last_store_do_not_finish_the_run(tmp_path: Path) -> None:
    run = a_run(tmp_path)
    south, north = run.workers
    run.on_message(south, Metrics(values=SOUTH_DONE))
    run.on_message(north, Metrics(values=NORTH_EMPTY))
    assert done(run)

    run.on_message(north, Stored(seq=7))  # the last window reached the North's cache after that frame
    assert not done(run)

    run.on_message(north, Metrics(values={"numberOfQueuedFiles": 0, "numberOfQueuedElements": 60}))
    assert not done(run)
    run.on_message(north, Metrics(values=NORTH_EMPTY))
    assert done(run)


def test_no_north_metrics_yet_or_south_still_reading_is_not_finished(tmp_path: Path) -> None:
    run = a_run(tmp_path)
    south, north = run.workers
    run.on_message(south, Metrics(values=SOUTH_DONE))
    assert not done(run)
    run.on_message(south, Metrics(values={"historyMetrics": {"finished": False}}))
    run.on_message(north, Metrics(values=NORTH_EMPTY))
    assert not done(run)
