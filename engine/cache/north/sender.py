"""The North send loop: triggers and thresholds, throttling, compaction, retries, archive and error moves."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from typing import TypeVar

from connectors.errors import SendError
from engine.cache.north.merge import Gathered
from engine.cache.north.store import NorthStore
from engine.cache.north.types import JSON_ARRAY_TYPES, CacheEntry, CacheLogger, iso_now
from engine.cache.settings import CachingSettings

SendCallback = Callable[[CacheEntry], Awaitable[None]]
"""Deliver one entry; return once the target confirmed it, raise ``SendError`` (or anything) otherwise."""

BatchSendCallback = Callable[[list[CacheEntry]], Awaitable[None]]
"""Deliver several raw files in order; return once the target confirmed them all, raise otherwise."""

_T = TypeVar("_T")

BATCH_TYPE = "any"
"""The content type sent in batches: raw files (JSON arrays are merged into one entry instead)."""


class NorthSender:
    """Sends queued entries in queue order, one send at a time, through the North's ``send`` callback.

    A send starts when the cron of ``caching.trigger.scan_mode_id`` ticks (then the queue is drained), or
    as soon as the queued elements or files reach their thresholds; ``runMinDelay`` separates two sends.
    The head entry is retried until it is delivered, or, for failures that are not ``retry_forever``,
    until ``retryCount`` is exceeded and it goes to ``error/``.

    With ``send_batch``, a head raw file goes together with the raw files queued right behind it (up to
    ``max_batch``, only those already queued) in one call, which counts as one send. When that call
    fails, the same entries are sent again one by one through ``send``, in order, so that a bad entry is
    isolated and retries, ``retry_forever`` and moves to ``error/`` work per entry exactly as without
    batches; while an entry keeps failing, it is retried alone.
    """

    def __init__(
        self,
        store: NorthStore,
        settings: CachingSettings,
        *,
        send: SendCallback,
        supported_types: Collection[str],
        logger: CacheLogger,
        send_batch: BatchSendCallback | None = None,
        max_batch: int = 64,
    ) -> None:
        self._store = store
        self._settings = settings
        self._send = send
        self._send_batch = send_batch
        self._max_batch = max_batch
        self._supported = frozenset(supported_types)
        self._logger = logger
        self._wake = asyncio.Event()
        self._changed = asyncio.Event()
        self._stopped = asyncio.Event()
        self._running = False
        self._closing = False
        self._drain = False
        self._last_send_end = float("-inf")
        self._failing: str | None = None
        self._failures = 0
        self._streak = 0

        self.content_sent_size = 0
        self.content_errored_size = 0
        self.content_archived_size = 0
        self.last_content_sent: str | None = None
        self.last_run_start: str | None = None
        self.last_run_duration: int | None = None

    def update_settings(self, settings: CachingSettings) -> None:
        """Apply new caching settings; waits in progress are re-evaluated at once."""
        self._settings = settings
        self._changed.set()
        self._wake.set()

    def trigger(self, scan_mode_id: str) -> bool:
        """Handle a cron tick: drain the queue if it is this North's scan mode; say whether it was."""
        if scan_mode_id != self._settings.trigger.scan_mode_id:
            return False
        self._drain = True
        self._wake.set()
        return True

    def drain(self) -> None:
        """Send everything queued now, whatever the trigger says (the source has nothing more to give).

        A history query's North needs it: with no scan mode and a ``numberOfElements`` threshold above
        what its last windows hold, the tail of the range would wait for a tick or a store that never comes.
        """
        self._drain = True
        self._wake.set()

    def check_thresholds(self) -> None:
        """Start sending if the queued elements or files reached their thresholds (called after stores)."""
        if self._thresholds_met():
            self._wake.set()

    async def run(self) -> None:
        """Send until :meth:`close` (or cancellation); run it in the caller's TaskGroup."""
        if self._running:
            raise RuntimeError("the send loop is already running")
        self._running = True
        self._stopped.clear()
        try:
            while not self._closing:
                if not self._wants_send():
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                if not await self._pause(lambda: self._settings.throttling.run_min_delay):
                    break
                if not await self._send_head():
                    await self._pause(lambda: self._settings.error.retry_interval)
        finally:
            self._running = False
            self._stopped.set()

    async def close(self) -> None:
        """Stop the loop; a send in progress is let finish (cancel the run task to abort it)."""
        self._closing = True
        self._wake.set()
        self._changed.set()
        if self._running:
            await self._stopped.wait()

    def _thresholds_met(self) -> bool:
        trigger = self._settings.trigger
        return (0 < trigger.number_of_elements <= self._store.queued_elements) or (
            0 < trigger.number_of_files <= self._store.queued_files
        )

    def _wants_send(self) -> bool:
        if self._store.head() is None:
            self._drain = False
            return False
        return self._drain or self._thresholds_met()

    async def _pause(self, delay_ms: Callable[[], int]) -> bool:
        """Wait until ``delay_ms`` after the end of the last send; False if closed meanwhile.

        A settings change re-evaluates the delay, so a shorter one applies at once.
        """
        loop = asyncio.get_running_loop()
        while not self._closing:
            remaining = self._last_send_end + delay_ms() / 1000 - loop.time()
            if remaining <= 0:
                return True
            self._changed.clear()
            try:
                async with asyncio.timeout(remaining):
                    await self._changed.wait()
            except TimeoutError:
                return not self._closing
        return False

    async def _send_head(self) -> bool:
        """Send the head entry (or a batch from it); False when a send failed and must be retried later."""
        head = self._store.head()
        if head is None:
            return True
        if head.content_type not in self._supported:
            self._logger.warning(
                "cache entry type not supported, moved to error",
                entry=head.name,
                content_type=head.content_type,
                supported_types=sorted(self._supported),
            )
            if await self._store.move_to_error(head):
                self.content_errored_size += head.content_size
            return True
        if self._send_batch is not None and self._failing is None and self._max_batch > 1:
            batch = self._store.run_of(head, BATCH_TYPE, self._max_batch)
            if len(batch) > 1:
                return await self._send_many(batch)
        if self._gatherable(head):
            gathered = await self._store.gather(head, self._settings.throttling.max_number_of_elements)
            if gathered is not None:
                return await self._send_gathered(gathered)
        head = await self._compact(head)
        return await self._send_one(head)

    def _gatherable(self, head: CacheEntry) -> bool:
        """Whether entries merged with ``head`` can be sent from memory, with no compaction written first.

        Not while the head is being retried (its failures belong to a written entry), nor when sent
        entries are archived (the archive keeps what was sent: the merged entry must exist).
        """
        limit = self._settings.throttling.max_number_of_elements
        return (
            head.content_type in JSON_ARRAY_TYPES
            and not (limit and head.number_of_element >= limit)
            and self._failing is None
            and not self._settings.archive.enabled
        )

    async def _send_gathered(self, gathered: Gathered) -> bool:
        entry = gathered.entry
        failure, forever = await self._timed(self._send, entry)
        if failure is None:
            self._record_success([entry])
            await self._store.finish_gathered(gathered)
            return True
        # Compact for real (it may now merge more), so that retries and error/ work on a written entry.
        head = await self._compact(gathered.consumed[0])
        return await self._failed(head, failure, forever=forever)

    async def _send_one(self, entry: CacheEntry) -> bool:
        failure, forever = await self._timed(self._send, entry)
        if failure is None:
            await self._succeeded([entry])
            return True
        return await self._failed(entry, failure, forever=forever)

    async def _send_many(self, batch: list[CacheEntry]) -> bool:
        assert self._send_batch is not None
        failure, _ = await self._timed(self._send_batch, batch)
        if failure is None:
            await self._succeeded(batch)
            return True
        # Which entry failed is unknown: send them one by one, so retries and error/ apply per entry.
        self._logger.debug("cache batch send failed, sending one by one", entries=len(batch), error=str(failure))
        for entry in batch:
            if self._closing:
                break
            if not self._store.is_queued(entry):
                continue  # Moved or removed by an operator meanwhile.
            if not await self._send_one(entry):
                return False
        return True

    async def _timed(self, send: Callable[[_T], Awaitable[None]], what: _T) -> tuple[BaseException | None, bool]:
        """Call ``send(what)`` as one send: timing metrics; return the failure, if any, and retry_forever."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        self.last_run_start = iso_now()
        try:
            await send(what)
        except SendError as err:
            return err, err.retry_forever
        except Exception as err:
            # Not a SendError: a bug in the North. Counted like a failure that does not retry forever.
            self._logger.error("cache entry send raised unexpectedly", entry=_names(what), error=repr(err))
            return err, False
        finally:
            self._last_send_end = loop.time()
            self.last_run_duration = round((self._last_send_end - started) * 1000)
        return None, False

    async def _compact(self, head: CacheEntry) -> CacheEntry:
        limit = self._settings.throttling.max_number_of_elements
        if head.content_type not in JSON_ARRAY_TYPES or (limit and head.number_of_element >= limit):
            return head
        merged, merge = await self._store.compact(head, limit)
        if merge is not None:
            self._logger.debug(
                "cache entries compacted",
                entry=merged.name,
                merged=len(merge.consumed),
                elements=merged.number_of_element,
            )
            if self._failing == head.name:
                # The merged entry carries the head's elements, so it inherits its failure count.
                self._failing = merged.name
        return merged

    def _record_success(self, entries: list[CacheEntry]) -> None:
        if self._streak:
            self._logger.info("cache entry sent, target recovered", entry=entries[0].name, failures=self._streak)
        self._streak = 0
        self._failing, self._failures = None, 0
        self.content_sent_size += sum(entry.content_size for entry in entries)
        self.last_content_sent = entries[-1].content_file

    async def _succeeded(self, entries: list[CacheEntry]) -> None:
        self._record_success(entries)
        archive = self._settings.archive.enabled
        archived = await self._store.finish(entries, archive=archive)
        self.content_archived_size += sum(entry.content_size for entry in archived)

    async def _failed(self, entry: CacheEntry, error: BaseException, *, forever: bool) -> bool:
        if self._failing != entry.name:
            self._failing, self._failures = entry.name, 0
        if not forever:
            self._failures += 1
        self._streak += 1
        # Warn once per streak of failures; the rest is detail until the target recovers.
        log = self._logger.warning if self._streak == 1 else self._logger.debug
        log(
            "cache entry send failed",
            entry=entry.name,
            error=str(error),
            retry_forever=forever,
            failures=self._failures,
        )
        if forever or self._failures <= self._settings.error.retry_count:
            return False
        self._logger.warning("cache entry moved to error after failures", entry=entry.name, failures=self._failures)
        if await self._store.move_to_error(entry):
            self.content_errored_size += entry.content_size
        self._failing, self._failures = None, 0
        return True


def _names(what: object) -> str | list[str]:
    if isinstance(what, CacheEntry):
        return what.name
    assert isinstance(what, list)
    return [entry.name for entry in what]
