"""A South worker in history mode: read a history query's fixed ``[startTime, endTime]`` once, then finish.

The engine starts it with a ``history`` block in its connector (``engine.ipc.HistorySpec``). Each
enabled item is read from its tracked instant (the history query's id is its ``south_id`` in ``cache.db``)
in ``maxReadInterval`` windows, oldest first; the instant is saved after each window the engine acknowledged,
so a restarted worker (or engine) resumes where the last delivered window ended. Progress goes to the
engine in the metrics as ``historyMetrics`` (upstream's names, plus ``items`` per item and ``finished``).

A read that fails (a query error, a lost connection) is logged with the connector's error and tried again
after ``RETRY_DELAY_S``; the tracked instant never moves past a window that was not delivered. A read the
source rejects ``PERMANENT_FAILURES`` times in a row (the driver refused the statement: bad SQL, a missing
table or permission; not a lost connection, which is retried for ever) ends the reading: the metrics carry
``error`` and the engine makes the query ERRORED, to be started again once its settings are fixed. A login
the source refuses (``ConnectorAuthError``: wrong password, unknown user) ends it at the first time: the
same credentials cannot succeed on a second try. A stop
waits for the window in progress (at most ``STOP_GRACE_S``) so that a graceful restart repeats nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from connectors.base import Item, SouthCache, SouthConnector
from connectors.errors import ConnectorAuthError, ConnectorError, ConnectorNotReady, ContentRefused
from engine.history.windowing import DEFAULT_MAX_READ_INTERVAL_S, Interval, history_intervals, run_history
from engine.ipc import HistorySpec

RETRY_DELAY_S = 5.0
"""Pause before a failed history read is tried again."""

PERMANENT_FAILURES = 3
"""Consecutive rejections of an item's read after which the query is ERRORED (retrying will not help)."""

STOP_GRACE_S = 4.0
"""How long a stop waits for the window in progress (under the supervisor's 5 s stop timeout)."""


class _Stopping(Exception):
    """Raised between two windows when the worker is asked to stop."""


def rejected(err: BaseException) -> bool:
    """The source refused the read itself (bad SQL, no permission): what retrying the same read cannot mend.

    A lost connection, a timeout, a server not ready or the engine refusing content may all heal.
    """
    healing = (ConnectionError, TimeoutError, ConnectorNotReady, ContentRefused)
    return isinstance(err, ConnectorError) and not isinstance(err, healing)


def _instant(text: Any) -> datetime:
    parsed = datetime.fromisoformat(str(text))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class HistoryReader:
    """Reads every item of a history query over its range and reports progress through ``report``."""

    def __init__(
        self,
        settings: HistorySpec,
        cache: SouthCache,
        report: Callable[[dict[str, Any]], None],
        logger: Any,
    ) -> None:
        self.start = _instant(settings.start_time)
        self.end = _instant(settings.end_time)
        self.max_read_interval = settings.max_read_interval or DEFAULT_MAX_READ_INTERVAL_S
        self.read_delay = settings.read_delay or 0
        self._cache = cache
        self._report = report
        self._logger = logger
        self._stopping = False
        self._idle = asyncio.Event()
        self._idle.set()
        self.metrics: dict[str, Any] = {
            "running": False,
            "finished": False,
            "intervalProgress": 0.0,
            "currentIntervalStart": None,
            "currentIntervalEnd": None,
            "currentIntervalNumber": 0,
            "numberOfIntervals": 0,
            "currentItem": None,
            "items": {},
            "error": None,
        }

    async def run(self, connector_of: Callable[[], SouthConnector[Any, Any] | None], items: list[Item[Any]]) -> None:
        """Read every enabled item to the end of the range, retrying failed reads, then report ``finished``.

        ``connector_of`` gives the current connector (a lost connection replaces it).
        """
        self.metrics["running"] = True
        for item in items:
            self.metrics["items"].setdefault(item.id, {"name": item.name, "done": False})
        for item in (item for item in items if item.enabled):
            rejections = 0
            while True:
                try:
                    connector = connector_of()
                    if connector is None:
                        raise RuntimeError("connector not started")
                    await self._item(connector, item)
                    break
                except _Stopping:
                    return
                except ConnectorAuthError as err:
                    self._give_up(item, err, attempts=1)
                    return
                except Exception as err:
                    rejections = rejections + 1 if rejected(err) else 0
                    if rejections >= PERMANENT_FAILURES:
                        self._give_up(item, err, attempts=rejections)
                        return
                    self._logger.error(
                        "history read failed; retrying", item=item.name, error=str(err), errorType=type(err).__name__
                    )
                    await asyncio.sleep(RETRY_DELAY_S)
        self.metrics.update(running=False, finished=True, currentItem=None, intervalProgress=1.0)
        self._report(self.metrics)

    def _give_up(self, item: Item[Any], err: BaseException, *, attempts: int) -> None:
        error = f"item {item.name}: {err}"
        self._logger.error("history read rejected; the query stops", item=item.name, error=str(err),
                           errorType=type(err).__name__, attempts=attempts)  # fmt: skip
        self.metrics.update(running=False, error=error)
        self._report(self.metrics)

    async def _item(self, connector: SouthConnector[Any, Any], item: Item[Any]) -> None:
        tracked = self._cache.get_tracked_instant(item.id)
        intervals = history_intervals(
            self.start, self.end, tracked_instant=tracked, max_read_interval_s=self.max_read_interval
        )
        # Windows already delivered before a restart still count, so "n of N" spans the whole range.
        total = len(history_intervals(self.start, self.end, max_read_interval_s=self.max_read_interval))
        done_before = total - len(intervals)
        progress = self.metrics["items"][item.id]
        progress.update(numberOfIntervals=total, intervalNumber=done_before)
        self.metrics.update(currentItem=item.id, numberOfIntervals=total, currentIntervalNumber=done_before)
        numbers = {interval: done_before + index + 1 for index, interval in enumerate(intervals)}

        async def read(start: datetime, end: datetime) -> datetime | None:
            if self._stopping:
                raise _Stopping
            number = numbers[Interval(start, end)]
            self.metrics.update(
                currentIntervalStart=_iso(start), currentIntervalEnd=_iso(end), currentIntervalNumber=number
            )
            self._idle.clear()
            try:
                newest = await connector.history_query([item], start, end)
            finally:
                self._idle.set()
            progress["intervalNumber"] = number
            self.metrics["intervalProgress"] = round(number / total, 4) if total else 1.0
            self._report(self.metrics)
            return newest

        await run_history(
            read,
            intervals,
            self.read_delay,
            lambda instant: self._cache.set_tracked_instant(item.id, instant),
            "oldest",
            tracked_instant=tracked,
        )
        progress["done"] = True

    async def stop(self) -> None:
        """Let the window in progress be delivered (bounded), and start no other."""
        self._stopping = True
        try:
            await asyncio.wait_for(self._idle.wait(), STOP_GRACE_S)
        except TimeoutError:
            self._logger.warning("history window still in progress at stop; it is read again at the next start")
