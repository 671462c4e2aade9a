"""Worker supervision against real worker processes: handshake, restarts, FATAL, stop escalation, watchdogs."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec
import psutil
import pytest

from engine.ipc import Log, Message, Start
from engine.states import WorkerState
from engine.supervisor.worker import EXIT_FATAL, Knobs, Worker

FAST = Knobs(
    start_grace_s=15.0,
    stop_timeout_s=2.0,
    backoff_initial_s=0.05,
    backoff_max_s=0.2,
    stable_after_s=30.0,
    ping_interval_s=0.2,
    ping_timeout_s=10.0,
)

STARTING, RUNNING, STOPPING, STOPPED = (
    WorkerState.STARTING,
    WorkerState.RUNNING,
    WorkerState.STOPPING,
    WorkerState.STOPPED,
)
EXITED, BACKOFF, FATAL = WorkerState.EXITED, WorkerState.BACKOFF, WorkerState.FATAL


class Recorder:
    """A ``Listener`` that keeps every state change and every frame."""

    def __init__(self) -> None:
        self.states: list[WorkerState] = []
        self.messages: list[Message] = []
        self.on_starting: Callable[[Worker], None] | None = None

    def on_state(self, worker: Worker, state: WorkerState) -> None:
        self.states.append(state)
        if state is STARTING and self.on_starting is not None:
            self.on_starting(worker)

    def on_message(self, worker: Worker, message: Message) -> None:
        self.messages.append(message)

    def labels(self) -> list[WorkerState]:
        return list(self.states)

    def logs(self, event: str) -> list[Log]:
        return [m for m in self.messages if isinstance(m, Log) and m.event == event]


class NorthDto:
    """A console North whose settings a test may change between two spawns."""

    def __init__(self, data_dir: Path, settings: dict[str, Any] | None = None) -> None:
        self.data_dir = data_dir
        self.settings: dict[str, Any] = settings or {}

    def start(self) -> Start:
        dto = {
            "id": "n1",
            "name": "console north",
            "type": "console",
            "settings": self.settings,
            "caching": {"trigger": {"scanModeId": "x"}},
        }
        return Start(role="north", connector=dto, data_dir=str(self.data_dir), log_level="info")


async def wait_until(predicate: Callable[[], bool], what: str, timeout_s: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@contextlib.asynccontextmanager
async def supervised(worker: Worker) -> AsyncIterator[Worker]:
    """Run ``worker`` in a TaskGroup; always stop it (and never leave a process behind)."""
    async with asyncio.TaskGroup() as group:
        worker.start(group)
        try:
            yield worker
        finally:
            try:
                await asyncio.wait_for(worker.stop(), 30.0)
            finally:
                pid = worker.pid
                if pid is not None:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        psutil.Process(pid).kill()


def new_worker(tmp_path: Path, knobs: Knobs = FAST, settings: dict[str, Any] | None = None) -> tuple[Worker, Recorder]:
    recorder = Recorder()
    dto = NorthDto(tmp_path, settings)
    return Worker("north:n1", "north", dto.start, recorder, knobs), recorder


async def test_starts_runs_answers_and_stops_gracefully(tmp_path: Path) -> None:
    worker, recorder = new_worker(tmp_path)
    async with supervised(worker):
        await wait_until(lambda: bool(recorder.logs("connector started")), "the connector to start")
        assert worker.state is RUNNING
        assert worker.connected
        pid = worker.pid
        assert pid is not None
        assert await worker.request("ping", timeout_s=10.0) == "pong"
    assert recorder.labels() == [STARTING, RUNNING, STOPPING, STOPPED]
    assert worker.last_exit_code == 0
    assert worker.restarts == 0
    assert worker.pid is None
    assert gone(pid)


async def test_kill_9_is_restarted_with_a_new_pid(tmp_path: Path) -> None:
    worker, recorder = new_worker(tmp_path)
    async with supervised(worker):
        await wait_until(lambda: bool(recorder.logs("connector started")), "the connector to start")
        first_pid = worker.pid
        assert first_pid is not None
        psutil.Process(first_pid).kill()
        await wait_until(
            lambda: worker.state is RUNNING and worker.generation == 2 and len(recorder.logs("connector started")) == 2,
            "the restarted connector",
        )
        assert worker.restarts == 1
        assert worker.last_exit_code == -signal.SIGKILL
        assert worker.pid not in (None, first_pid)
        assert gone(first_pid)
        assert await worker.request("ping", timeout_s=10.0) == "pong"
    assert recorder.labels()[:6] == [STARTING, RUNNING, EXITED, BACKOFF, STARTING, RUNNING]


async def test_fatal_exit_waits_for_wake(tmp_path: Path) -> None:
    recorder = Recorder()
    dto = NorthDto(tmp_path, {"verbose": ["not", "a", "bool"]})
    worker = Worker("north:n1", "north", dto.start, recorder, FAST)
    async with supervised(worker):
        await wait_until(lambda: worker.state is FATAL, "FATAL")
        assert worker.last_exit_code == EXIT_FATAL
        assert recorder.logs("connector cannot run")
        # Twenty backoff periods: a worker that would be restarted would be by now.
        await asyncio.sleep(1.0)
        assert recorder.labels() == [STARTING, RUNNING, EXITED, FATAL]
        assert worker.generation == 1
        assert worker.restarts == 0
        assert worker.pid is None

        dto.settings = {"verbose": True}
        worker.wake()
        await wait_until(lambda: bool(recorder.logs("connector started")), "the fixed connector to start")
        assert worker.state is RUNNING
        assert worker.generation == 2
    assert recorder.labels() == [STARTING, RUNNING, EXITED, FATAL, STARTING, RUNNING, STOPPING, STOPPED]
    assert worker.last_exit_code == 0


async def test_stop_kills_a_worker_that_ignores_the_stop_frame(tmp_path: Path) -> None:
    # A long ping timeout keeps the watchdog out of the way: the stop escalation must do the killing.
    knobs = Knobs(stop_timeout_s=0.3, backoff_initial_s=0.05, ping_interval_s=0.2, ping_timeout_s=60.0)
    worker, recorder = new_worker(tmp_path, knobs)
    async with supervised(worker):
        await wait_until(lambda: bool(recorder.logs("connector started")), "the connector to start")
        pid = worker.pid
        assert pid is not None
        psutil.Process(pid).suspend()  # SIGSTOP: it can read neither the Stop frame nor SIGTERM.
        await worker.stop()
        assert worker.state is STOPPED
        assert worker.last_exit_code == -signal.SIGKILL
        assert gone(pid)
    assert recorder.labels() == [STARTING, RUNNING, STOPPING, STOPPED]
    assert worker.restarts == 0


async def test_hung_worker_is_killed_by_the_ping_watchdog_and_restarted(tmp_path: Path) -> None:
    knobs = Knobs(stop_timeout_s=2.0, backoff_initial_s=0.05, ping_interval_s=0.2, ping_timeout_s=0.5)
    worker, recorder = new_worker(tmp_path, knobs)
    async with supervised(worker):
        await wait_until(lambda: bool(recorder.logs("connector started")), "the connector to start")
        first_pid = worker.pid
        assert first_pid is not None
        psutil.Process(first_pid).suspend()
        await wait_until(
            lambda: worker.state is RUNNING and worker.generation == 2 and len(recorder.logs("connector started")) == 2,
            "the watchdog to replace the hung worker",
        )
        assert worker.restarts == 1
        assert worker.last_exit_code == -signal.SIGKILL
        assert worker.pid not in (None, first_pid)
        assert gone(first_pid)
    assert recorder.labels()[:6] == [STARTING, RUNNING, EXITED, BACKOFF, STARTING, RUNNING]


async def test_memory_ceiling_kills_and_restarts(tmp_path: Path) -> None:
    knobs = Knobs(stop_timeout_s=2.0, backoff_initial_s=0.05, backoff_max_s=0.2, ping_interval_s=0.2, memory_limit_mb=1)
    worker, recorder = new_worker(tmp_path, knobs)
    async with supervised(worker):
        await wait_until(lambda: worker.restarts >= 2, "two memory kills")
        assert worker.last_exit_code == -signal.SIGKILL
    labels = recorder.labels()
    assert labels[:4] == [STARTING, RUNNING, EXITED, BACKOFF]
    assert labels[-1] is STOPPED
    assert FATAL not in labels


async def test_stop_while_spawning_stops_the_new_process(tmp_path: Path) -> None:
    worker, recorder = new_worker(tmp_path)
    stops: list[asyncio.Task[None]] = []

    def stop_now(target: Worker) -> None:
        # Runs while the supervisor awaits the spawn: stop() finds no process yet.
        if not stops:
            stops.append(asyncio.get_running_loop().create_task(target.stop()))

    recorder.on_starting = stop_now
    async with supervised(worker):
        await wait_until(lambda: bool(stops), "the stop to be requested")
        await asyncio.wait_for(stops[0], 20.0)
        assert worker.state is STOPPED
        assert worker.pid is None
    assert recorder.labels() == [STARTING, STOPPING, STOPPED]
    assert worker.last_exit_code == 0
    assert not recorder.logs("connector started")


@pytest.mark.parametrize(
    "broken",
    [{"caching": {"trigger": {"scanModeId": 42}}}, {"type": "no-such-type"}],
    ids=["invalid caching block", "unknown connector type"],
)
async def test_settings_the_runner_cannot_build_are_fatal(tmp_path: Path, broken: dict[str, Any]) -> None:
    recorder = Recorder()
    dto = NorthDto(tmp_path)

    def start() -> Start:
        message = dto.start()
        return Start(
            role="north", connector={**msgspec.to_builtins(message.connector), **broken}, data_dir=message.data_dir
        )

    worker = Worker("north:n1", "north", start, recorder, FAST)
    async with supervised(worker):
        await wait_until(lambda: worker.state is FATAL, "FATAL")
        assert worker.last_exit_code == EXIT_FATAL
        assert recorder.logs("connector cannot run")
        assert worker.restarts == 0
