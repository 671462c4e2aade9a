"""A connector that loses its peer is stopped and started again by its runner, and the gap is logged once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from test_runner_requests import RecordingChannel

from connectors.errors import ConnectorConnectionError
from connectors.south.folder_scanner import FolderScannerSouth
from engine.ipc import Log, Start
from engine.worker.south import SouthRunner


class CountingScanner(FolderScannerSouth):
    """A folder scanner that counts its starts and stops, and whose runs fail while ``down`` is set."""

    starts = 0
    stops = 0
    runs = 0
    down = False

    async def start(self) -> None:
        type(self).starts += 1
        await super().start()

    async def stop(self) -> None:
        type(self).stops += 1
        await super().stop()

    async def last_file(self, items: list[object]) -> None:  # type: ignore[override]
        type(self).runs += 1
        if type(self).down:
            raise ConnectorConnectionError("share unreachable")


@pytest.fixture
async def runner(tmp_path: Path) -> AsyncIterator[SouthRunner]:
    folder = tmp_path / "input"
    folder.mkdir()
    dto = {
        "id": "s1",
        "name": "Scanner",
        "type": "folder-scanner",
        "settings": {"inputFolder": str(folder), "compression": False},
        "items": [
            {"id": "i1", "name": "all", "enabled": True, "scanModeId": "every-second", "settings": {"regex": ".*"}}
        ],
    }
    CountingScanner.starts = CountingScanner.stops = CountingScanner.runs = 0
    CountingScanner.down = False
    started = SouthRunner(RecordingChannel(), Start(role="south", connector=dto, data_dir=str(tmp_path / "data")))
    started.connector_cls = CountingScanner
    await started.start_with_backoff()
    yield started
    await started.stop()


def events(runner: SouthRunner) -> list[str]:
    assert isinstance(runner.channel, RecordingChannel)
    return [message.event for message in runner.channel.sent if isinstance(message, Log)]


async def until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` (the runner exposes no event for a restart; the timeout only guards a hang)."""
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_a_lost_connection_restarts_the_connector_and_logs_the_gap_once(runner: SouthRunner) -> None:
    assert runner.connector is not None
    runner.connector.context.connection_lost("subscription closed by the server")
    runner.connector.context.connection_lost("a second report of the same loss")
    await until(lambda: CountingScanner.starts == 2 and runner.started.is_set())
    assert CountingScanner.stops == 1
    logged = events(runner)
    assert logged.count("connection lost, reconnecting") == 1
    assert logged.count("connector started after retries") == 1
    assert "connector not ready, retrying" not in logged


async def test_a_run_failing_on_the_connection_reconnects_instead_of_logging_each_run(runner: SouthRunner) -> None:
    CountingScanner.down = True
    runner.on_trigger("every-second")
    await until(lambda: CountingScanner.starts == 2 and runner.started.is_set())
    logged = events(runner)
    assert logged.count("connection lost, reconnecting") == 1
    assert "run failed" not in logged


async def test_a_loss_reported_after_stop_is_ignored(runner: SouthRunner) -> None:
    connector = runner.connector
    assert connector is not None
    await runner.stop()
    connector.context.connection_lost("late report")
    await asyncio.sleep(0.05)
    assert CountingScanner.starts == 1
    assert "connection lost, reconnecting" not in events(runner)


async def test_a_scan_triggered_as_the_connection_is_lost_leaves_later_scans_running(runner: SouthRunner) -> None:
    assert runner.connector is not None
    runner.connector.context.connection_lost("peer gone")
    # The scheduler's tick lands before the reconnection has begun (a busy engine, a tick already in the pipe).
    runner.on_trigger("every-second")
    await until(lambda: CountingScanner.starts == 2 and runner.started.is_set())
    before = CountingScanner.runs
    runner.on_trigger("every-second")
    await until(lambda: CountingScanner.runs > before)
    assert "previous run still in progress, skipping this one" not in events(runner)


async def test_a_run_cancelled_before_it_began_does_not_skip_the_next_scans(runner: SouthRunner) -> None:
    # A reconfiguration stops the run just triggered, before the run's first step.
    runner.on_trigger("every-second")
    await runner.reconfigure()
    assert CountingScanner.runs == 0
    runner.on_trigger("every-second")
    await until(lambda: CountingScanner.runs == 1)
    assert "previous run still in progress, skipping this one" not in events(runner)
