"""One supervised worker process: spawn, handshake, pipes, health checks, backoff and stop."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from engine.ipc import PROTOCOL_VERSION, Hello, Message, ProtocolError, Reply, Request, Start, Stop, encode
from engine.ipc.codec import read_message
from engine.states import WorkerState
from engine.supervisor.process import escalate_stop, kill_tree, memory_of

log = structlog.get_logger(__name__)

EXIT_FATAL = 3
"""Exit code of a worker whose connector cannot run with its settings: no restart until reconfigured."""


@dataclass(frozen=True, slots=True)
class Knobs:
    """Supervision knobs, with supervisord's meanings."""

    start_grace_s: float = 15.0
    stop_timeout_s: float = 5.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 60.0
    stable_after_s: float = 30.0
    memory_limit_mb: int = 1024
    ping_interval_s: float = 5.0
    ping_timeout_s: float = 30.0


class Listener(Protocol):
    """Who hears what a worker says (the engine)."""

    def on_message(self, worker: Worker, message: Message) -> None:
        """A frame other than a reply arrived from the worker."""

    def on_state(self, worker: Worker, state: WorkerState) -> None:
        """The worker changed state (``RUNNING`` means: handshake done and ``Start`` sent)."""


class WorkerGone(ConnectionError):
    """The worker process is not connected (starting, backing off or stopped)."""


class Worker:
    """Supervises the process of one connector (``key`` is ``south:<id>`` or ``north:<id>``)."""

    def __init__(
        self,
        key: str,
        role: str,
        start_message: Callable[[], Start],
        listener: Listener,
        knobs: Knobs | None = None,
        cwd: str | None = None,
        scope: Mapping[str, Any] | None = None,
    ) -> None:
        self.key = key
        self.scope: dict[str, Any] = dict(scope or {})
        """Log scope of the connector (``scopeType``, ``scopeId``, ``scopeName``): its supervision logs and
        the worker's records that carry none are filed under it, so ``GET /api/logs?scopeIds=<id>`` shows
        why the connector is not running."""
        self._cwd = cwd
        self.role = role
        self._start_message = start_message
        self._listener = listener
        self.knobs = knobs or Knobs()
        self.state = WorkerState.STOPPED
        self.generation = 0
        self.restarts = 0
        self.last_exit_code: int | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._requests: dict[int, asyncio.Future[Any]] = {}
        self._request_ids = itertools.count(1)
        self._task: asyncio.Task[None] | None = None
        self._log = log.bind(worker=key, **self.scope)

    @property
    def pid(self) -> int | None:
        """Process id of the current worker process, if any."""
        return self._proc.pid if self._proc and self._proc.returncode is None else None

    @property
    def connected(self) -> bool:
        """Whether frames can be sent now."""
        return self.state is WorkerState.RUNNING and self.pid is not None

    def _set_state(self, state: WorkerState, **fields: Any) -> None:
        if state is self.state:
            return
        self._log.debug("worker state", previous=self.state.label, state=state.label, **fields)
        self.state = state
        self._listener.on_state(self, state)

    def start(self, group: asyncio.TaskGroup) -> None:
        """Start supervising inside ``group`` (the engine's TaskGroup)."""
        self._stopping.clear()
        self._task = group.create_task(self._supervise(), name=f"{self.key}:supervise")

    def send(self, message: Message) -> None:
        """Queue one frame to the worker; raise ``WorkerGone`` if it is not connected."""
        proc = self._proc
        if proc is None or proc.stdin is None or proc.returncode is not None or self.state is not WorkerState.RUNNING:
            raise WorkerGone(self.key)
        try:
            proc.stdin.write(encode(message))
        except (ConnectionError, RuntimeError) as err:
            raise WorkerGone(self.key) from err

    async def drain(self) -> None:
        """Wait until the pipe to the worker has room (back-pressure for bulk sends)."""
        proc = self._proc
        if proc is not None and proc.stdin is not None:
            with contextlib.suppress(ConnectionError):
                await proc.stdin.drain()

    async def request(self, method: str, params: dict[str, Any] | None = None, timeout_s: float = 30.0) -> Any:
        """Call ``method`` in the worker and return its result (raise ``RuntimeError`` with its error)."""
        request_id = next(self._request_ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._requests[request_id] = future
        try:
            self.send(Request(id=request_id, method=method, params=params or {}))
            return await asyncio.wait_for(future, timeout_s)
        finally:
            self._requests.pop(request_id, None)

    def wake(self) -> None:
        """Skip the current backoff delay (a configuration change deserves a fresh attempt)."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop the worker gracefully and wait for supervision to end."""
        self._stopping.set()
        self._wake.set()
        proc = self._proc
        if proc is not None and proc.returncode is None:
            await self._stop_process(proc)
        if self._task is not None and not self._task.done():
            # ``asyncio.wait`` rather than ``await task``: a cancellation of this call must propagate (not be
            # swallowed), and must not cancel supervision halfway through killing the process.
            await asyncio.wait([self._task])
        self._set_state(WorkerState.STOPPED)

    async def _stop_process(self, proc: asyncio.subprocess.Process) -> None:
        self._set_state(WorkerState.STOPPING)
        with contextlib.suppress(WorkerGone, ConnectionError, RuntimeError):
            if proc.stdin is not None:
                proc.stdin.write(encode(Stop()))
        await escalate_stop(proc, self.knobs.stop_timeout_s)

    async def _supervise(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            started = time.monotonic()
            code = await self._run_once()
            self.last_exit_code = code
            if self._stopping.is_set():
                break
            self._set_state(WorkerState.EXITED, code=code)
            if code == EXIT_FATAL:
                self._log.error("connector cannot run with its settings; waiting for a change", code=code)
                self._set_state(WorkerState.FATAL)
                await self._wait_wake(None)
                failures = 0
                continue
            failures = 0 if time.monotonic() - started >= self.knobs.stable_after_s else failures + 1
            delay = min(self.knobs.backoff_max_s, self.knobs.backoff_initial_s * 2 ** max(failures - 1, 0))
            delay *= random.uniform(0.8, 1.2)
            self.restarts += 1
            self._log.warning("worker exited, restarting", code=code, delay_s=round(delay, 2), failures=failures)
            self._set_state(WorkerState.BACKOFF, delay_s=delay)
            await self._wait_wake(delay)

    async def _wait_wake(self, delay: float | None) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), delay)

    async def _spawn(self) -> asyncio.subprocess.Process:
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "engine.worker",
            self.key,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=None,
            env=env,
            cwd=self._cwd,
            limit=2**26,
        )

    async def _run_once(self) -> int | None:
        """Run one process lifetime; return its exit code."""
        self._set_state(WorkerState.STARTING)
        self.generation += 1
        try:
            proc = await self._spawn()
        except OSError as err:
            self._log.error("worker spawn failed", error=str(err))
            return None
        self._proc = proc
        if self._stopping.is_set():
            # stop() ran while the process was being spawned: it had no process to stop yet.
            await self._stop_process(proc)
            return await proc.wait()
        assert proc.stdout is not None
        try:
            hello = await asyncio.wait_for(read_message(proc.stdout), self.knobs.start_grace_s)
            if not isinstance(hello, Hello) or hello.protocol != PROTOCOL_VERSION:
                raise ProtocolError(f"bad handshake: {hello!r}")
            if self._stopping.is_set():
                # stop() ran during the handshake and already sent Stop: do not start the connector.
                return await proc.wait()
            assert proc.stdin is not None
            proc.stdin.write(encode(self._start_message()))
        except Exception as err:
            self._log.error("worker handshake failed", error=str(err), errorType=type(err).__name__)
            kill_tree(proc.pid)
            return await proc.wait()
        self._set_state(WorkerState.RUNNING, pid=proc.pid)
        async with asyncio.TaskGroup() as group:
            watch = group.create_task(self._watch(proc), name=f"{self.key}:watch")
            await self._read(proc)
            watch.cancel()
        code = await proc.wait()
        self._proc = None
        for future in self._requests.values():
            if not future.done():
                future.set_exception(WorkerGone(self.key))
        return code

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while True:
            try:
                message = await read_message(proc.stdout)
            except ProtocolError as err:
                self._log.error("worker sent a bad frame; killing it", error=str(err))
                kill_tree(proc.pid)
                return
            if message is None:
                return
            if isinstance(message, Reply):
                future = self._requests.get(message.id)
                if future is not None and not future.done():
                    if message.ok:
                        future.set_result(message.result)
                    else:
                        future.set_exception(RuntimeError(message.error or "worker request failed"))
                continue
            try:
                self._listener.on_message(self, message)
            except Exception:
                # A bug in routing must not take the worker's pipe down with it.
                self._log.exception("worker message handling failed", kind=message.kind)

    async def _watch(self, proc: asyncio.subprocess.Process) -> None:
        """Kill the worker if it stops answering pings or grows past its memory ceiling."""
        limit = self.knobs.memory_limit_mb * 1024 * 1024
        while proc.returncode is None:
            await asyncio.sleep(self.knobs.ping_interval_s)
            rss = memory_of(proc.pid)
            if rss is not None and rss > limit:
                self._log.error(
                    "worker over its memory ceiling; killing it",
                    rss_mb=rss // 2**20,
                    limit_mb=self.knobs.memory_limit_mb,
                )
                kill_tree(proc.pid)
                return
            try:
                await self.request("ping", timeout_s=self.knobs.ping_timeout_s)
            except TimeoutError:
                self._log.error("worker does not answer; killing it", timeout_s=self.knobs.ping_timeout_s)
                kill_tree(proc.pid)
                return
            except (WorkerGone, RuntimeError):
                return
