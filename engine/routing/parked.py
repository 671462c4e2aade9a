"""A stopped North keeps collecting: the engine stores its content in the North's cache folder itself.

A North without a worker (disabled, or stopped with ``POST /api/north/{id}/stop``) is *parked*: routing
treats it as a target like any other, and the engine opens its cache folder with a ``NorthStore`` of its
own, stores each content there (bounded by ``caching.throttling`` like the worker would: a full cache
refuses, with the cache's warning, and the source keeps its data), and closes the folder once idle or as
soon as the North's worker is about to start. The worker then sends what accumulated. The folder is held
under the engine's per-North cache lock, so the engine and a worker never have it open together.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from engine.cache.north.entries import content_entries
from engine.cache.north.store import NorthStore
from engine.ipc import Content, Message
from engine.routing.delivery import NorthSlot
from engine.routing.router import NorthRoute
from engine.states import WorkerState

_log = structlog.get_logger(__name__)

IDLE_CLOSE_S = 5.0
"""A parked North's cache folder is closed after this long without content (threads and handles freed)."""


@dataclass(frozen=True, slots=True)
class ParkedNorth:
    """A North without a worker as routing sees it: its rules, its name and its cache limits."""

    route: NorthRoute
    name: str
    max_size_mb: int = 0
    max_elements: int = 0

    @classmethod
    def from_dto(cls, dto: Mapping[str, Any], types: Iterable[str]) -> ParkedNorth:
        """Build from a North DTO (its ``caching.throttling`` limits) and its manifest's content types."""
        throttling = ((dto.get("caching") or {}).get("throttling")) or {}
        return cls(
            route=NorthRoute.from_dto(dto, types),
            name=str(dto.get("name") or dto["id"]),
            max_size_mb=_count(throttling.get("maxSize"), 0),
            max_elements=_count(throttling.get("maxNumberOfElements"), 10_000),
        )


def _count(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default


@dataclass(slots=True)
class _Open:
    store: NorthStore
    lock: asyncio.Lock
    busy: int = 0
    closing: bool = False
    last_used: float = field(default_factory=time.monotonic)
    idle: asyncio.Event = field(default_factory=asyncio.Event)


class ParkedCaches:
    """The cache folders of parked Norths that the engine has open, one ``NorthStore`` each."""

    def __init__(
        self, data_dir: Path, lock_for: Callable[[str], asyncio.Lock], *, idle_close_s: float = IDLE_CLOSE_S
    ) -> None:
        self._data_dir = data_dir
        self._lock_for = lock_for
        self._idle_close_s = idle_close_s
        self._opened: dict[str, asyncio.Task[_Open]] = {}

    async def store(self, north: ParkedNorth, content: Content) -> str | None:
        """Store ``content`` durably in the North's cache: ``None`` once stored, else why it was refused."""
        try:
            opened = await self._acquire(north)
        except Exception as err:
            return f"cache folder of the stopped North cannot be opened: {err}"
        opened.store.set_max_size(north.max_size_mb)
        opened.store.set_max_elements(north.max_elements)
        opened.busy += 1
        opened.idle.clear()
        try:
            reasons = await opened.store.store(content_entries(content))
        except Exception as err:
            return f"cache store failed: {err}"
        finally:
            opened.busy -= 1
            opened.last_used = time.monotonic()
            if not opened.busy:
                opened.idle.set()
        return next((reason for reason in reasons if reason is not None), None)

    async def _acquire(self, north: ParkedNorth) -> _Open:
        while True:
            task = self._opened.get(north.route.id)
            if task is None:
                task = asyncio.create_task(self._open(north), name=f"engine:park-open:{north.route.id}")
                self._opened[north.route.id] = task
            try:
                opened = await asyncio.shield(task)
            except Exception:
                if self._opened.get(north.route.id) is task:
                    del self._opened[north.route.id]
                raise
            if not opened.closing:
                return opened

    async def _open(self, north: ParkedNorth) -> _Open:
        lock = self._lock_for(north.route.id)
        await lock.acquire()
        logger = structlog.get_logger(__name__).bind(scopeType="north", scopeId=north.route.id, scopeName=north.name)
        try:
            store = NorthStore(
                self._data_dir,
                f"north-{north.route.id}",
                logger=logger,
                max_size_mb=north.max_size_mb,
                io_threads=2,
            )
            await store.open()
        except BaseException:
            lock.release()
            raise
        logger.info("north stopped: content kept in its cache until it starts again")
        opened = _Open(store=store, lock=lock)
        opened.idle.set()
        return opened

    async def release(self, north_id: str) -> None:
        """Close the North's cache folder (after the stores under way) so that its worker may open it."""
        task = self._opened.pop(north_id, None)
        if task is None:
            return
        try:
            opened = await task
        except Exception:
            return  # Never opened: its lock was given back.
        opened.closing = True
        await opened.idle.wait()
        try:
            await opened.store.close()
        finally:
            opened.lock.release()

    async def sweep(self) -> None:
        """Close the folders that have been idle for a while."""
        now = time.monotonic()
        idle = [
            north_id
            for north_id, task in self._opened.items()
            if task.done()
            and not task.cancelled()
            and task.exception() is None
            and not task.result().busy
            and now - task.result().last_used >= self._idle_close_s
        ]
        for north_id in idle:
            await self.release(north_id)

    async def run_sweeper(self, period_s: float = 1.0) -> None:
        """Close idle folders, forever (the engine cancels it when it stops)."""
        while True:
            await asyncio.sleep(period_s)
            await self.sweep()

    async def close(self) -> None:
        """Close every open folder (engine stop)."""
        for north_id in list(self._opened):
            with contextlib.suppress(Exception):
                await self.release(north_id)


class ParkedLink:
    """Stands for the worker of a parked North in its ``NorthSlot``.

    Each content sent is stored by the engine in the North's cache, then answered in the slot's outbox, as
    a worker's ``stored`` would be. The stores run in the engine's task group (``group``), tracked here so
    that ``drain`` can wait for them; a store that fails is logged under the North's scope and answered
    as refused (the South keeps its data), so no content waits for an answer that never comes.
    """

    def __init__(self, north: ParkedNorth, caches: ParkedCaches, group: asyncio.TaskGroup) -> None:
        self.north = north
        self.slot: NorthSlot[ParkedLink] | None = None
        self._caches = caches
        self._group = group
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def connected(self) -> bool:
        """Always ready: the engine itself stores."""
        return True

    @property
    def state(self) -> WorkerState:
        """Routing treats a parked North as a running one."""
        return WorkerState.RUNNING

    def send(self, message: Message) -> None:
        """Store one content (other frames mean nothing here)."""
        if not isinstance(message, Content):
            return
        task = self._group.create_task(self._store(message), name=f"engine:park:{self.north.route.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _store(self, content: Content) -> None:
        # Nothing may escape: an exception would cancel the engine's whole task group.
        try:
            reason = await self._caches.store(self.north, content)
        except Exception as err:
            _log.error(
                "stopped north cannot store content",
                scopeType="north",
                scopeId=self.north.route.id,
                scopeName=self.north.name,
                seq=content.seq,
                error=str(err) or type(err).__name__,
            )
            reason = f"stopped North cannot store: {str(err) or type(err).__name__}"
        self._answer(content.seq, reason)

    def _answer(self, seq: int, reason: str | None) -> None:
        if self.slot is None:
            return
        entry = self.slot.outbox.pop(seq, None)
        if entry is None:
            return
        try:
            entry[1].answer(self.north.route.id, reason)
        except Exception:
            _log.exception("stopped north answer failed", scopeType="north", scopeId=self.north.route.id, seq=seq)

    async def drain(self) -> None:
        """Wait for the stores under way (before the North's worker takes its cache back)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def parked_slot(
    dto: Mapping[str, Any], types: Iterable[str], caches: ParkedCaches, group: asyncio.TaskGroup
) -> NorthSlot[ParkedLink]:
    """The routing slot of a North without a worker; its stores run in ``group``."""
    link = ParkedLink(ParkedNorth.from_dto(dto, types), caches, group)
    slot = NorthSlot(route=link.north.route, worker=link)
    link.slot = slot
    return slot


class ParkedNorths:
    """The Norths without a worker that still take content: their routing slots and their open caches."""

    def __init__(self, data_dir: Path, lock_for: Callable[[str], asyncio.Lock]) -> None:
        self.slots: dict[str, NorthSlot[ParkedLink]] = {}
        """North id → routing slot, for every parked North (the engine routes to these beside its workers)."""
        self.caches = ParkedCaches(data_dir, lock_for)
        self._sweeper: asyncio.Task[None] | None = None
        self._group: asyncio.TaskGroup | None = None

    def start(self, group: asyncio.TaskGroup) -> None:
        """Close idle cache folders in the background, and store parked content, in the engine's task group."""
        self._group = group
        self._sweeper = group.create_task(self.caches.run_sweeper(), name="engine:parked-sweeper")

    async def park(self, north_id: str, dto: Mapping[str, Any] | None, types: Callable[[str], Iterable[str]]) -> None:
        """Make a North without a worker a target (``dto``: its DTO), or forget it (``None``).

        A North being stopped is parked at once: its stores wait for the lock its worker holds until it
        closed the cache. A parked North about to get a worker (or deleted) first finishes its stores.
        ``types`` gives the content types of a North type (from its manifest).
        """
        previous = self.slots.pop(north_id, None)
        if previous is not None:
            await previous.worker.drain()
        if dto is None:
            await self.caches.release(north_id)
            return
        if self._group is None:
            raise RuntimeError("ParkedNorths.start(group) must run before a North is parked")
        try:
            self.slots[north_id] = parked_slot(dto, types(dto["type"]), self.caches, self._group)
        except Exception as err:  # An unknown type: nothing can be stored for it.
            _log.warning("stopped north cannot keep content", north=north_id, error=str(err))

    async def close(self) -> None:
        """Finish the stores under way and close every folder (engine stop)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        for parked in self.slots.values():
            await parked.worker.drain()
        self.slots.clear()
        await self.caches.close()
