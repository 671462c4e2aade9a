"""The North send loop: triggers and thresholds, throttling, compaction, retries, archive and error moves."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection

from connectors.errors import SendError
from engine.cache.north_store import NorthStore
from engine.cache.north_types import JSON_ARRAY_TYPES, CacheEntry, CacheLogger, iso_now
from engine.cache.settings import CachingSettings

SendCallback = Callable[[CacheEntry], Awaitable[None]]
"""Deliver one entry; return once the target confirmed it, raise ``SendError`` (or anything) otherwise."""


class NorthSender:
    """Sends queued entries one at a time, in queue order, through the North's ``send`` callback.

    A send starts when the cron of ``caching.trigger.scan_mode_id`` ticks (then the queue is drained), or
    as soon as the queued elements or files reach their thresholds; ``runMinDelay`` separates two sends.
    The head entry is retried until it is delivered, or, for failures that are not ``retry_forever``,
    until ``retryCount`` is exceeded and it goes to ``error/``.
    """

    def __init__(
        self,
        store: NorthStore,
        settings: CachingSettings,
        *,
        send: SendCallback,
        supported_types: Collection[str],
        logger: CacheLogger,
    ) -> None:
        self._store = store
        self._settings = settings
        self._send = send
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
        """Send the head entry; False when it failed and must be retried after ``retryInterval``."""
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
        head = await self._compact(head)
        loop = asyncio.get_running_loop()
        started = loop.time()
        self.last_run_start = iso_now()
        failure: BaseException | None = None
        forever = False
        try:
            await self._send(head)
        except SendError as err:
            failure, forever = err, err.retry_forever
        except Exception as err:
            # Not a SendError: a bug in the North. Counted like a failure that does not retry forever.
            self._logger.error("cache entry send raised unexpectedly", entry=head.name, error=repr(err))
            failure = err
        finally:
            self._last_send_end = loop.time()
            self.last_run_duration = round((self._last_send_end - started) * 1000)
        if failure is None:
            await self._succeeded(head)
            return True
        return await self._failed(head, failure, forever=forever)

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

    async def _succeeded(self, entry: CacheEntry) -> None:
        if self._streak:
            self._logger.info("cache entry sent, target recovered", entry=entry.name, failures=self._streak)
        self._streak = 0
        self._failing, self._failures = None, 0
        archive = self._settings.archive.enabled
        self.content_sent_size += entry.content_size
        self.last_content_sent = entry.content_file
        if await self._store.finish(entry, archive=archive) and archive:
            self.content_archived_size += entry.content_size

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
