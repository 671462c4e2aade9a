"""The South worker's history mode (``engine.worker.history.HistoryReader``) on a real South cache.

The connector is a stand-in that records the windows it is asked for (what a real South reads is covered
by the history query functional tests): what matters here is the windowing, the progress, the resume from
the tracked instant, the retry of a failed read and a stop between windows.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fakes import RecordingLogger

from connectors.base import Item
from connectors.errors import ConnectorConnectionError, ConnectorError
from engine.cache.south import SouthCacheDB
from engine.ipc import HistorySpec
from engine.worker import history
from engine.worker.history import HistoryReader

START = datetime(2025, 1, 1, tzinfo=UTC)
SETTINGS = HistorySpec(start_time="2025-01-01T00:00:00Z", end_time="2025-01-01T10:00:00Z", max_read_interval=3600)


class Windows:
    """Reads each window "up to its end"; fails the reads listed in ``failures`` once each."""

    def __init__(
        self, failures: int = 0, gate: asyncio.Event | None = None, error: type[Exception] = RuntimeError
    ) -> None:
        self.read: list[tuple[datetime, datetime]] = []
        self.failures = failures
        self.gate = gate
        self.error = error

    async def history_query(self, items: list[Item[Any]], start: datetime, end: datetime) -> datetime | None:
        if self.failures:
            self.failures -= 1
            raise self.error('syntax error at or near "SELEC"')
        if self.gate is not None:
            await self.gate.wait()
        self.read.append((start, end))
        return end


def item(name: str = "a") -> Item[Any]:
    return Item(id=f"id-{name}", name=name, enabled=True, settings=None)


def test_the_range_is_read_in_windows_with_progress_then_finished(tmp_path: Path) -> None:
    reports: list[dict[str, Any]] = []
    with SouthCacheDB(tmp_path / "cache.db") as db:
        reader = HistoryReader(SETTINGS, db.for_south("h"), lambda m: reports.append(dict(m)), RecordingLogger())
        connector = Windows()
        asyncio.run(reader.run(lambda: connector, [item("a"), item("b")]))  # type: ignore[arg-type, return-value]
        assert len(connector.read) == 20  # 10 windows of an hour, for each item
        assert connector.read[0] == (START, START + timedelta(hours=1))
        assert db.for_south("h").get_tracked_instant("id-a") == START + timedelta(hours=10)
    numbers = [report["currentIntervalNumber"] for report in reports if not report["finished"]]
    assert numbers == [*range(1, 11), *range(1, 11)]
    assert {report["numberOfIntervals"] for report in reports} == {10}
    assert reports[-1]["finished"] and not reports[-1]["running"]
    assert reports[-1]["items"]["id-b"] == {"name": "b", "done": True, "numberOfIntervals": 10, "intervalNumber": 10}


def test_a_restart_resumes_from_the_tracked_instant(tmp_path: Path) -> None:
    with SouthCacheDB(tmp_path / "cache.db") as db:
        db.for_south("h").set_tracked_instant("id-a", START + timedelta(hours=7))
        reports: list[dict[str, Any]] = []
        reader = HistoryReader(SETTINGS, db.for_south("h"), lambda m: reports.append(dict(m)), RecordingLogger())
        connector = Windows()
        asyncio.run(reader.run(lambda: connector, [item()]))  # type: ignore[arg-type, return-value]
    assert [start for start, _ in connector.read] == [START + timedelta(hours=hours) for hours in (7, 8, 9)]
    assert [report["currentIntervalNumber"] for report in reports[:-1]] == [8, 9, 10]  # "n of 10", not "n of 3"


def test_a_failed_read_is_logged_and_tried_again(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setattr(history, "RETRY_DELAY_S", 0.01)
    logger = RecordingLogger()
    with SouthCacheDB(tmp_path / "cache.db") as db:
        reader = HistoryReader(SETTINGS, db.for_south("h"), lambda m: None, logger)
        connector = Windows(failures=2)
        asyncio.run(reader.run(lambda: connector, [item()]))  # type: ignore[arg-type, return-value]
    assert len(connector.read) == 10
    failures = [fields for level, event, fields in logger.records if event == "history read failed; retrying"]
    assert len(failures) == 2 and "SELEC" in failures[0]["error"]


def test_a_read_the_source_keeps_rejecting_ends_in_an_error_a_lost_connection_does_not(
    tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setattr(history, "RETRY_DELAY_S", 0.01)
    with SouthCacheDB(tmp_path / "cache.db") as db:
        reports: list[dict[str, Any]] = []
        reader = HistoryReader(SETTINGS, db.for_south("h"), lambda m: reports.append(dict(m)), RecordingLogger())
        rejecting = Windows(failures=history.PERMANENT_FAILURES + 5, error=ConnectorError)
        asyncio.run(reader.run(lambda: rejecting, [item()]))  # type: ignore[arg-type, return-value]
        assert rejecting.failures == 5 and rejecting.read == []  # it gave up after PERMANENT_FAILURES tries
        assert reports[-1]["error"] == 'item a: syntax error at or near "SELEC"'
        assert not reports[-1]["finished"] and not reports[-1]["running"]
        assert db.for_south("h").get_tracked_instant("id-a") is None

        reports.clear()
        reader = HistoryReader(SETTINGS, db.for_south("h"), lambda m: reports.append(dict(m)), RecordingLogger())
        dropping = Windows(failures=history.PERMANENT_FAILURES + 2, error=ConnectorConnectionError)
        asyncio.run(reader.run(lambda: dropping, [item()]))  # type: ignore[arg-type, return-value]
        assert len(dropping.read) == 10 and reports[-1]["finished"] and reports[-1]["error"] is None


def test_a_stop_lets_the_window_in_progress_finish_and_starts_no_other(tmp_path: Path) -> None:
    async def scenario(db: SouthCacheDB) -> Windows:
        gate = asyncio.Event()
        connector = Windows(gate=gate)
        reader = HistoryReader(SETTINGS, db.for_south("h"), lambda m: None, RecordingLogger())
        running = asyncio.create_task(reader.run(lambda: connector, [item()]))  # type: ignore[arg-type, return-value]
        await asyncio.sleep(0.05)  # the first window waits at the gate
        stopping = asyncio.create_task(reader.stop())
        await asyncio.sleep(0.05)
        gate.set()
        await stopping
        await asyncio.wait_for(running, 5)
        return connector

    with SouthCacheDB(tmp_path / "cache.db") as db:
        connector = asyncio.run(scenario(db))
        assert connector.read == [(START, START + timedelta(hours=1))]
        assert db.for_south("h").get_tracked_instant("id-a") == START + timedelta(hours=1)
