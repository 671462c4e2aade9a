"""The durability contract on its own: ``Deliveries`` with fake North links (no engine, no worker process)."""

from __future__ import annotations

import asyncio
import time

import pytest

from engine.ipc import Content, Message
from engine.routing import delivery
from engine.routing.delivery import Deliveries, NorthSlot
from engine.routing.router import NorthRoute
from engine.runtime import IngestResult
from engine.states import WorkerState


class FakeNorth:
    """A North worker as delivery sees it: connected or not, keeping what it is sent."""

    def __init__(self, *, connected: bool = True, state: WorkerState = WorkerState.RUNNING) -> None:
        self.connected = connected
        self.state = state
        self.sent: list[Message] = []

    def send(self, message: Message) -> None:
        self.sent.append(message)


def slot(north_id: str, link: FakeNorth) -> NorthSlot[FakeNorth]:
    return NorthSlot(route=NorthRoute.from_dto({"id": north_id, "transformers": []}, ("any",)), worker=link)


def content(name: str = "a.csv") -> Content:
    return Content(seq=0, source_id="s1", content_type="any", file_path=f"/in/{name}", filename=name)


class Outcomes:
    def __init__(self) -> None:
        self.results: list[IngestResult] = []

    def __call__(self, result: IngestResult) -> None:
        self.results.append(result)


def setup(**links: FakeNorth) -> tuple[Deliveries, dict[str, NorthSlot[FakeNorth]]]:
    slots = {north_id: slot(north_id, link) for north_id, link in links.items()}
    return Deliveries(slots, store_timeout_s=30.0), slots


def seqs(link: FakeNorth) -> list[int]:
    return [message.seq for message in link.sent if isinstance(message, Content)]


def test_done_only_once_every_north_stored_every_part() -> None:
    a, b = FakeNorth(), FakeNorth()
    deliveries, slots = setup(a=a, b=b)
    done = Outcomes()
    deliveries.dispatch([(slots["a"], [content(), content("b.csv")]), (slots["b"], [content()])], done)
    assert len(seqs(a)) == 2 and len(seqs(b)) == 1 and len(set(seqs(a) + seqs(b))) == 3
    deliveries.answered("a", seqs(a)[0], None)
    deliveries.answered("b", seqs(b)[0], None)
    assert done.results == []
    deliveries.answered("a", seqs(a)[1], None)
    assert done.results == [IngestResult(stored=("b", "a"), refused={})]
    assert slots["a"].outbox == {} and slots["b"].outbox == {}


def test_a_refused_part_refuses_the_content_for_that_north() -> None:
    a, b = FakeNorth(), FakeNorth()
    deliveries, slots = setup(a=a, b=b)
    done = Outcomes()
    deliveries.dispatch([(slots["a"], [content()]), (slots["b"], [content()])], done)
    deliveries.answered("a", seqs(a)[0], "cache full")
    deliveries.answered("b", seqs(b)[0], None)
    assert done.results == [IngestResult(stored=("b",), refused={"a": "cache full"})]


def test_unknown_answers_are_ignored() -> None:
    a = FakeNorth()
    deliveries, slots = setup(a=a)
    done = Outcomes()
    deliveries.dispatch([(slots["a"], [content()])], done)
    deliveries.answered("a", 999_999, None)
    deliveries.answered("ghost", seqs(a)[0], None)
    assert done.results == [] and len(slots["a"].outbox) == 1


@pytest.mark.parametrize("ignored", [True, False])
def test_no_target_answers_at_once_and_says_whether_on_purpose(ignored: bool) -> None:
    deliveries, _ = setup()
    done = Outcomes()
    deliveries.dispatch([], done, ignored=ignored)
    assert done.results == [IngestResult(stored=(), refused={}, ignored=ignored)]


def test_a_restarting_north_keeps_its_outbox_and_gets_it_again() -> None:
    a = FakeNorth(connected=False, state=WorkerState.BACKOFF)
    deliveries, slots = setup(a=a)
    done = Outcomes()
    deliveries.dispatch([(slots["a"], [content()])], done)
    assert a.sent == [] and len(slots["a"].outbox) == 1
    a.connected, a.state = True, WorkerState.RUNNING
    deliveries.resend(slots["a"])
    deliveries.answered("a", seqs(a)[0], None)
    assert done.results == [IngestResult(stored=("a",), refused={})]


def test_a_north_that_cannot_run_refuses_at_once() -> None:
    a = FakeNorth(connected=False, state=WorkerState.FATAL)
    deliveries, slots = setup(a=a)
    done = Outcomes()
    deliveries.dispatch([(slots["a"], [content()])], done)
    assert done.results == [IngestResult(stored=(), refused={"a": "North connector cannot run with its settings"})]
    assert slots["a"].outbox == {}


def test_a_full_outbox_refuses_new_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery, "MAX_OUTBOX", 1)
    a = FakeNorth()
    deliveries, slots = setup(a=a)
    first, second = Outcomes(), Outcomes()
    deliveries.dispatch([(slots["a"], [content()])], first)
    deliveries.dispatch([(slots["a"], [content("b.csv")])], second)
    assert second.results == [
        IngestResult(stored=(), refused={"a": "North connector is not keeping up; try again later"})
    ]
    assert first.results == [] and len(slots["a"].outbox) == 1


def test_refuse_outbox_answers_everything_waiting() -> None:
    a = FakeNorth()
    deliveries, slots = setup(a=a)
    done = Outcomes()
    deliveries.dispatch([(slots["a"], [content(), content("b.csv")])], done)
    deliveries.refuse_all(slots.values(), "engine stopping")
    assert done.results == [IngestResult(stored=(), refused={"a": "engine stopping"})]
    assert slots["a"].outbox == {}


def test_expiry_refuses_only_parts_past_their_deadline() -> None:
    a = FakeNorth()
    deliveries, slots = setup(a=a)
    old, young = Outcomes(), Outcomes()
    deliveries.dispatch([(slots["a"], [content()])], old)
    deliveries.dispatch([(slots["a"], [content("b.csv")])], young)
    outbox = slots["a"].outbox
    for seq, deadline in zip(list(outbox), (100.0, 200.0), strict=True):
        sent, waiting, _ = outbox[seq]
        outbox[seq] = (sent, waiting, deadline)
    deliveries.expire(150.0)
    assert old.results == [IngestResult(stored=(), refused={"a": "not stored within 30 s"})]
    assert young.results == [] and len(outbox) == 1
    deliveries.expire(200.0)
    assert young.results == [IngestResult(stored=(), refused={"a": "not stored within 30 s"})]
    assert outbox == {}


def test_expiry_leaves_parts_before_their_deadline() -> None:
    a = FakeNorth()
    deliveries, slots = setup(a=a)
    done = Outcomes()
    deliveries.dispatch([(slots["a"], [content()])], done)
    deliveries.expire(time.monotonic() - 1.0)
    assert done.results == [] and len(slots["a"].outbox) == 1


async def test_deliver_waits_for_the_outcome() -> None:
    a = FakeNorth()
    deliveries, slots = setup(a=a)
    waiting = asyncio.create_task(deliveries.deliver([(slots["a"], [content()])], ignored=False))
    await asyncio.sleep(0)  # deliver() runs up to its await: the part is sent
    deliveries.answered("a", seqs(a)[0], None)
    assert await asyncio.wait_for(waiting, 5) == IngestResult(stored=("a",), refused={})
