"""Helpers shared by the North cache tests: settings, a recording logger and send callback, polling."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
from fakes import RecordingLogger as RecordingLogger  # re-exported for the cache tests

from engine.cache.north import CacheEntry, NorthCache
from engine.cache.north.files import HAS_SYNCFS
from engine.cache.settings import (
    CacheArchive,
    CacheError,
    CacheThrottling,
    CacheTrigger,
    CachingSettings,
)

SCAN_MODE = "every-10s"
SYNC_MODES = [False, True] if HAS_SYNCFS else [False]
"""Group commit modes to test: fsync per file, and one syncfs per group where the platform has it."""
NORTH_ID = "n1"


def caching(
    *,
    number_of_elements: int = 0,
    number_of_files: int = 0,
    run_min_delay: int = 0,
    max_size: int = 0,
    max_number_of_elements: int = 10000,
    retry_interval: int = 1,
    retry_count: int = 3,
    error_retention: int = 0,
    archive: bool = False,
    archive_retention: int = 72,
) -> CachingSettings:
    """Caching settings for tests: no thresholds, no delays unless asked."""
    return CachingSettings(
        trigger=CacheTrigger(
            scan_mode_id=SCAN_MODE, number_of_elements=number_of_elements, number_of_files=number_of_files
        ),
        throttling=CacheThrottling(
            run_min_delay=run_min_delay, max_size=max_size, max_number_of_elements=max_number_of_elements
        ),
        error=CacheError(retry_interval=retry_interval, retry_count=retry_count, retention_duration=error_retention),
        archive=CacheArchive(enabled=archive, retention_duration=archive_retention),
    )


def values(*numbers: int) -> bytes:
    """A time-values JSON array, one value per number (pointId ``p<number>``)."""
    return json.dumps(
        [{"pointId": f"p{n}", "timestamp": "2024-05-01T00:00:00.000Z", "data": {"value": n}} for n in numbers]
    ).encode()


def numbers_of(payload: bytes) -> list[int]:
    """The numbers of a payload built by :func:`values`."""
    return [int(item["data"]["value"]) for item in msgspec.json.decode(payload)]


@dataclass
class Sent:
    """One successful send as the target saw it."""

    name: str
    content_type: str
    content_file: str
    number_of_element: int
    content: bytes


@dataclass
class SendRecorder:
    """The ``send`` callback of a fake North: records sends, fails on demand, checks exclusivity."""

    fail: Callable[[CacheEntry], BaseException | None] = lambda entry: None
    delay: float = 0.0
    sent: list[Sent] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)
    active: int = 0
    max_active: int = 0

    async def __call__(self, entry: CacheEntry) -> None:
        self.attempts.append(entry.name)
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            # Yield so that an overlapping send, if the cache allowed one, would show in max_active.
            await asyncio.sleep(self.delay)
            content = await entry.read_content()
            error = self.fail(entry)
            if error is not None:
                raise error
            self.sent.append(Sent(entry.name, entry.content_type, entry.content_file, entry.number_of_element, content))
        finally:
            self.active -= 1

    def sent_numbers(self) -> list[int]:
        return [n for sent in self.sent if sent.content_type == "time-values" for n in numbers_of(sent.content)]


async def wait_until(predicate: Callable[[], bool], within: float = 5.0) -> None:
    """Poll ``predicate`` until true; fail the test after ``within`` seconds."""
    async with asyncio.timeout(within):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.002)


async def settle(turns: int = 20) -> None:
    """Give the send loop several chances to act (used to assert that nothing happens)."""
    for _ in range(turns):
        await asyncio.sleep(0.001)


def make_cache(
    data: Path,
    settings: CachingSettings | None = None,
    *,
    send: SendRecorder | None = None,
    supported: Collection[str] = ("time-values", "any", "any-content"),
    logger: RecordingLogger | None = None,
    on_refused: Callable[[str, int], None] | None = None,
    coalesce: bool = True,
    syncfs: bool | None = None,
    send_batch: Callable[[list[CacheEntry]], Awaitable[None]] | None = None,
    max_batch: int = 64,
) -> NorthCache:
    return NorthCache(
        data,
        NORTH_ID,
        settings or caching(),
        send=send or SendRecorder(),
        supported_types=supported,
        logger=logger or RecordingLogger(),
        on_refused=on_refused,
        io_threads=4,
        coalesce=coalesce,
        syncfs=syncfs,
        send_batch=send_batch,
        max_batch=max_batch,
    )


@asynccontextmanager
async def opened(cache: NorthCache) -> AsyncIterator[NorthCache]:
    """The cache opened, without its send loop."""
    await cache.open()
    try:
        yield cache
    finally:
        await cache.close()


@asynccontextmanager
async def running(cache: NorthCache) -> AsyncIterator[NorthCache]:
    """The cache opened, with its send loop running in a TaskGroup."""
    await cache.open()
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(cache.run(), name="test:cache-send")
            try:
                yield cache
            finally:
                await cache.close()
    finally:
        await cache.close()


def folder(data: Path, name: str) -> Path:
    """``data/<cache|error|archive>/north-n1``."""
    return data / name / f"north-{NORTH_ID}"


def names_in(data: Path, where: str, sub: str = "metadata") -> set[str]:
    """File names in one sub-folder of one folder."""
    path = folder(data, where) / sub
    return {p.name for p in path.iterdir()} if path.exists() else set()
