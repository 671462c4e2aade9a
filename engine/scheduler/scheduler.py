"""One timer per scan mode; each tick is handed to a callback (the engine fans it out to workers).

Crons run in the server's local time, as upstream. A tick that comes late (machine suspended, loop
busy) fires once, not once per missed slot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import structlog
from croniter import croniter

log = structlog.get_logger(__name__)


class Scheduler:
    """Keeps one task per scan mode with a non-empty cron."""

    def __init__(self, fire: Callable[[str], None]) -> None:
        self._fire = fire
        self._tasks: dict[str, tuple[str, asyncio.Task[None]]] = {}
        self._group: asyncio.TaskGroup | None = None

    def start(self, group: asyncio.TaskGroup, scan_modes: dict[str, str]) -> None:
        """Start the timers inside ``group``."""
        self._group = group
        self.update(scan_modes)

    def update(self, scan_modes: dict[str, str]) -> None:
        """Add, replace or remove timers to match ``scan_modes`` (id → cron)."""
        for scan_mode_id in list(self._tasks):
            cron, task = self._tasks[scan_mode_id]
            if scan_modes.get(scan_mode_id) != cron:
                task.cancel()
                del self._tasks[scan_mode_id]
        assert self._group is not None
        for scan_mode_id, cron in scan_modes.items():
            if not cron or scan_mode_id in self._tasks:
                continue
            task = self._group.create_task(self._run(scan_mode_id, cron), name=f"scan-mode:{scan_mode_id}")
            self._tasks[scan_mode_id] = (cron, task)

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

    async def _run(self, scan_mode_id: str, cron: str) -> None:
        try:
            schedule = croniter(cron, datetime.now().astimezone(), second_at_beginning=True)
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
            now = datetime.now().astimezone()
            delay = (next_time - now).total_seconds()
            if delay < -1.0:
                # Late (suspended machine, busy loop): fire once now, then resynchronise from now.
                schedule = croniter(cron, now, second_at_beginning=True)
                delay = 0.0
            await asyncio.sleep(max(0.0, delay))
            try:
                self._fire(scan_mode_id)
            except Exception:
                log.exception("scan mode tick failed", scanModeId=scan_mode_id)
