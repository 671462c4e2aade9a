"""The durability contract, engine side: a content is answered only once every target North answered for it.

A South's content (or an API upload) is cut into parts, one or more per target North (see
``engine.routing.fanout``). Each part gets a fresh sequence number and waits in its North's **outbox** until
that North answers ``Stored`` (durable in its disk cache) or ``Refused``. The ``Delivery`` of the content
gathers the answers and calls ``on_done`` once, with every North that stored it and every North that refused
it and why: the South is acked only when none refused, an API client gets 204 or a retry.

What keeps a content from waiting forever:
- a North whose worker is restarting keeps its outbox; everything in it is sent again once it runs again
  (``resend``): the North's cache may then hold it twice, never zero times;
- a North that cannot run (FATAL), is stopped or removed, or the engine stopping, refuses its outbox
  (``refuse_outbox``);
- a part not answered within ``store_timeout_s`` is refused (``expire``: oldest first, one pass a second);
- an outbox holding ``MAX_OUTBOX`` parts refuses new ones at once (the engine's memory stays bounded).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Protocol, TypeVar

import structlog

from engine.ipc import Content, Message
from engine.routing.router import NorthRoute
from engine.runtime import IngestResult
from engine.states import WorkerState

log = structlog.get_logger(__name__)

MAX_OUTBOX = 20_000
"""Contents waiting for one North before new content for it is refused (protects the engine's memory)."""

STORE_TIMEOUT_S = 30.0
"""A North that has not stored a content by then (crash loop, stuck disk) gets it refused: the source keeps
its data and sends it again later, and an API client is told to retry instead of waiting forever."""

EXPIRY_PERIOD_S = 1.0
"""How often the outboxes are searched for parts past their deadline."""


class NorthLink(Protocol):
    """What delivery needs of a North's worker (``engine.supervisor.worker.Worker`` has it)."""

    @property
    def connected(self) -> bool:
        """Whether frames can be sent now."""
        ...

    @property
    def state(self) -> WorkerState:
        """Supervision state."""
        ...

    def send(self, message: Message) -> None:
        """Send one frame (raises ``WorkerGone`` when the process just went away)."""
        ...


@dataclass(slots=True)
class Delivery:
    """One content on its way to several Norths; ``on_done`` runs once all of them answered.

    ``pending`` counts the parts each North still has to answer for (a content split across transformer
    rules is several parts); a North that refuses any part refuses the content.
    """

    pending: dict[str, int]
    on_done: Callable[[IngestResult], None]
    stored: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)

    def answer(self, north_id: str, reason: str | None) -> None:
        """Record the answer of one North for one part."""
        left = self.pending.get(north_id)
        if left is None:
            return
        if reason is not None:
            self.refused.setdefault(north_id, reason)
        if left > 1:
            self.pending[north_id] = left - 1
            return
        del self.pending[north_id]
        if north_id not in self.refused:
            self.stored.append(north_id)
        if not self.pending:
            self.on_done(IngestResult(stored=tuple(self.stored), refused=dict(self.refused)))


Link = TypeVar("Link", bound=NorthLink, covariant=True)


@dataclass(slots=True)
class NorthSlot(Generic[Link]):
    """Routing state of one enabled North: its rules and the contents it has not confirmed yet."""

    route: NorthRoute
    worker: Link
    outbox: dict[int, tuple[Content, Delivery, float]] = field(default_factory=dict)
    """Contents sent (or waiting to be sent) and not yet confirmed, with their deadline, oldest first."""


Parts = list[tuple["NorthSlot[Any]", list[Content]]]
"""What each target North is to store of one content (several parts when transformer rules split it)."""


class Deliveries:
    """Sends parts to their Norths, matches the answers, refuses what cannot be stored in time."""

    def __init__(self, norths: Mapping[str, NorthSlot[Any]], *, store_timeout_s: float = STORE_TIMEOUT_S) -> None:
        self.norths = norths
        self.store_timeout_s = store_timeout_s
        self._seq = itertools.count(1)

    def dispatch(self, parts: Parts, on_done: Callable[[IngestResult], None], *, ignored: bool = True) -> None:
        """Send each North its parts (or park them in the outbox of a restarting one).

        With no target, ``ignored`` tells whether that was deliberate (an ``ignore`` rule, or a South
        nobody subscribes to) rather than a client naming no North that exists.
        """
        delivery = Delivery(pending={slot.route.id: len(contents) for slot, contents in parts}, on_done=on_done)
        if not parts:
            on_done(IngestResult(stored=(), refused={}, ignored=ignored))
            return
        for slot, contents in parts:
            for content in contents:
                self._send_part(slot, content, delivery)

    async def deliver(self, parts: Parts, ignored: bool) -> IngestResult:
        """``dispatch`` and wait for the outcome (API ingestion)."""
        future: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()

        def done(result: IngestResult) -> None:
            if not future.done():
                future.set_result(result)

        self.dispatch(parts, done, ignored=ignored)
        return await future

    def _send_part(self, slot: NorthSlot[Any], content: Content, delivery: Delivery) -> None:
        if len(slot.outbox) >= MAX_OUTBOX:
            delivery.answer(slot.route.id, "North connector is not keeping up; try again later")
            return
        seq = next(self._seq)
        outgoing = replace(content, seq=seq)
        slot.outbox[seq] = (outgoing, delivery, time.monotonic() + self.store_timeout_s)
        if slot.worker.connected:
            with contextlib.suppress(ConnectionError):  # WorkerGone: the outbox resends it to the next process
                slot.worker.send(outgoing)
        elif slot.worker.state is WorkerState.FATAL:
            slot.outbox.pop(seq, None)
            delivery.answer(slot.route.id, "North connector cannot run with its settings")

    def answered(self, north_id: str, seq: int, reason: str | None) -> None:
        """A North's ``Stored`` (``reason`` None) or ``Refused`` for the part ``seq``."""
        slot = self.norths.get(north_id)
        if slot is not None:
            entry = slot.outbox.pop(seq, None)
            if entry is not None:
                entry[1].answer(north_id, reason)

    @staticmethod
    def resend(slot: NorthSlot[Any]) -> None:
        """Send the whole outbox again (the North's worker is running again)."""
        for content, _, _ in list(slot.outbox.values()):
            slot.worker.send(content)

    @staticmethod
    def refuse_outbox(slot: NorthSlot[Any], reason: str) -> None:
        """Refuse every part waiting for ``slot``."""
        entries = list(slot.outbox.values())
        slot.outbox.clear()
        for _, delivery, _ in entries:
            delivery.answer(slot.route.id, reason)

    def refuse_all(self, slots: Iterable[NorthSlot[Any]], reason: str) -> None:
        """Refuse the outbox of every slot (the engine is stopping)."""
        for slot in slots:
            self.refuse_outbox(slot, reason)

    def expire(self, now: float) -> None:
        """Refuse every part whose deadline is past ``now`` (``time.monotonic`` clock)."""
        for slot in list(self.norths.values()):
            expired = []
            for seq, (_, _, deadline) in slot.outbox.items():
                if deadline > now:
                    break  # oldest first: the rest are younger
                expired.append(seq)
            if expired:
                log.warning(
                    "north did not store content in time; refusing it",
                    north=slot.route.id,
                    count=len(expired),
                    timeout_s=self.store_timeout_s,
                )
            for seq in expired:
                _, delivery, _ = slot.outbox.pop(seq)
                delivery.answer(slot.route.id, f"not stored within {self.store_timeout_s:g} s")

    async def run_expiry(self) -> None:
        """``expire`` once a period, until cancelled."""
        while True:
            await asyncio.sleep(EXPIRY_PERIOD_S)
            self.expire(time.monotonic())
