"""One timer per scan mode; each tick is handed to a callback (the engine fans it out to workers).

Crons run in the server's local time, as upstream. A tick that comes late (machine suspended, loop
busy) fires once, not once per missed slot. Interval scan modes keep a fixed pace from their start
(tick ``n`` is due at ``start + n * period`` on the monotonic clock), so a slow callback does not make
them drift. A tick outside the scan mode's activation window is skipped, never deferred. Time comes
from an injectable ``Clock`` so tests can drive hours of schedule in milliseconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Protocol

import structlog

from engine.scheduler.timing import Timing, is_active

log = structlog.get_logger(__name__)


class Clock(Protocol):
    """Where the scheduler reads time and waits."""

    def now(self) -> datetime:
        """The current wall-clock instant, aware, in the server's zone."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Local wall-clock time."""
        return datetime.now().astimezone()

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep``."""
        await asyncio.sleep(seconds)


Spec = Timing | str
"""A scan mode's timing; a bare string is a cron (the form of every scan mode before v3.10)."""


def _timing(spec: Spec) -> Timing:
    return Timing(cron=spec) if isinstance(spec, str) else spec


class Scheduler:
    """Keeps one task per scheduled scan mode (a non-empty cron, or an interval)."""

    def __init__(self, fire: Callable[[str], None], clock: Clock | None = None) -> None:
        self._fire = fire
        self._clock: Clock = clock or SystemClock()
        self._tasks: dict[str, tuple[Timing, asyncio.Task[None]]] = {}
        self._group: asyncio.TaskGroup | None = None

    def start(self, group: asyncio.TaskGroup, scan_modes: Mapping[str, Spec]) -> None:
        """Start the timers inside ``group``."""
        self._group = group
        self.update(scan_modes)

    def update(self, scan_modes: Mapping[str, Spec]) -> None:
        """Add, replace or remove timers to match ``scan_modes`` (id → timing or cron)."""
        wanted = {scan_mode_id: _timing(spec) for scan_mode_id, spec in scan_modes.items()}
        for scan_mode_id in list(self._tasks):
            timing, task = self._tasks[scan_mode_id]
            if wanted.get(scan_mode_id) != timing:
                task.cancel()
                del self._tasks[scan_mode_id]
        assert self._group is not None
        for scan_mode_id, timing in wanted.items():
            if not timing.scheduled or scan_mode_id in self._tasks:
                continue
            run = self._run_interval if timing.type == "interval" else self._run_cron
            task = self._group.create_task(run(scan_mode_id, timing), name=f"scan-mode:{scan_mode_id}")
            self._tasks[scan_mode_id] = (timing, task)

    async def stop(self) -> None:
        """Cancel every timer."""
        tasks = [task for _, task in self._tasks.values()]
        for task in tasks:
            task.cancel()
        self._tasks.clear()
        if tasks:
            # ``asyncio.wait`` rather than ``await task`` under ``suppress(CancelledError)``: that would also
            # swallow a cancellation of stop() itself.
            await asyncio.wait(tasks)

    def _tick(self, scan_mode_id: str, timing: Timing) -> None:
        try:
            if not is_active(timing.window, self._clock.now()):
                return
            self._fire(scan_mode_id)
        except Exception:
            log.exception("scan mode tick failed", scanModeId=scan_mode_id)

    async def _run_interval(self, scan_mode_id: str, timing: Timing) -> None:
        assert timing.interval is not None
        period = timing.interval.seconds
        due = self._clock.monotonic() + period
        while True:
            await self._clock.sleep(max(0.0, due - self._clock.monotonic()))
            self._tick(scan_mode_id, timing)
            due += period
            late = self._clock.monotonic() - due
            if late > period:
                # Missed slots (suspended machine, busy loop): skip them rather than fire a burst.
                due += (late // period + 1) * period

    async def _run_cron(self, scan_mode_id: str, timing: Timing) -> None:
        from croniter import croniter

        cron = timing.cron
        try:
            schedule = croniter(cron, self._clock.now(), second_at_beginning=True)
        except (ValueError, KeyError) as err:
            log.error("invalid cron, scan mode not scheduled", scanModeId=scan_mode_id, cron=cron, error=str(err))
            return
        while True:
            try:
                next_time: datetime = schedule.get_next(datetime)
            except (ValueError, KeyError) as err:
                # A cron that parses but matches no date (``0 0 0 30 2 *``) fails here; an exception escaping
                # this task would take the engine's TaskGroup, and so the whole engine, down with it.
                log.error("invalid cron, scan mode not scheduled", scanModeId=scan_mode_id, cron=cron, error=str(err))
                return
            now = self._clock.now()
            delay = (next_time - now).total_seconds()
            if delay < -1.0:
                # Late (suspended machine, busy loop): fire once now, then resynchronise from now.
                schedule = croniter(cron, now, second_at_beginning=True)
                delay = 0.0
            await self._clock.sleep(max(0.0, delay))
            self._tick(scan_mode_id, timing)
