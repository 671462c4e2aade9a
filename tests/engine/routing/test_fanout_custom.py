"""The fan-out awaits custom transformer rules: order per South, the API path, a runner that breaks.

The sandbox itself is covered by ``tests/engine/sandbox`` and the whole path by
``tests/engine/test_custom_transformer_routing_functional.py``; here a scripted runner lets the test decide
when each run ends, to check what the fan-out does meanwhile.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import Any, cast

from engine.ipc import Ack, Content, Message
from engine.routing.delivery import Deliveries, NorthSlot
from engine.routing.fanout import Fanout
from engine.routing.router import NorthRoute, Rule
from engine.states import WorkerState


@dataclass
class Link:
    """A worker's link: connected, keeping what it is sent."""

    connected: bool = True
    state: WorkerState = WorkerState.RUNNING
    generation: int = 1
    sent: list[Message] = field(default_factory=list)

    def send(self, message: Message) -> None:
        self.sent.append(message)


class ScriptedRunner:
    """Upper-cases payloads; a run waits for its gate when one is set; ``boom`` raises."""

    def __init__(self) -> None:
        self.gates: dict[bytes, asyncio.Event] = {}
        self.runs: list[bytes] = []

    async def apply(self, transformer_id: str, rule: Rule | None, part: Content) -> Content | None:
        payload = part.payload or b""
        self.runs.append(payload)
        if payload in self.gates:
            await self.gates[payload].wait()
        if payload == b"boom":
            raise RuntimeError("runner broke")
        return replace(part, content_type="any", payload=payload.upper(), filename="out.txt")


RULE = {"id": "r", "source": {"type": "south", "southId": "s1"}, "transformerId": "custom-1", "options": {}}
API_RULE = {"id": "a", "source": {"type": "oibus-api", "dataSourceId": "src"}, "transformerId": "custom-1"}


def fanout(runner: ScriptedRunner) -> tuple[Fanout, Link, Link]:
    norths: dict[str, NorthSlot[Any]] = {}
    deliveries = Deliveries(norths)
    custom, plain = Link(), Link()
    norths["custom"] = NorthSlot(
        NorthRoute.from_dto({"id": "custom", "transformers": [RULE, API_RULE]}, ["any"]), custom
    )
    norths["plain"] = NorthSlot(NorthRoute.from_dto({"id": "plain"}, ["any-content"]), plain)
    return Fanout(norths, deliveries, runner), custom, plain


def content(seq: int, payload: bytes) -> Content:
    return Content(seq=seq, source_id="s1", content_type="any-content", payload=payload, count=1)


def stored_all(out: Fanout, north_id: str, link: Link) -> None:
    for message in link.sent:
        if isinstance(message, Content):
            out.deliveries.answered(north_id, message.seq, None)
    link.sent.clear()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_souths_contents_reach_the_north_in_order_while_a_transformer_runs() -> None:
    runner = ScriptedRunner()
    out, custom, plain = fanout(runner)
    south = Link()
    gate = runner.gates[b"first"] = asyncio.Event()
    out.route_south(south, "s1", content(1, b"first"))
    out.route_south(south, "s1", content(2, b"second"))
    await settle()
    # The second waits behind the first, for every North (the plain one too): nothing is sent out of order.
    assert runner.runs == [b"first"]
    assert custom.sent == [] and plain.sent == []
    gate.set()
    await settle()
    assert [m.payload for m in custom.sent if isinstance(m, Content)] == [b"FIRST", b"SECOND"]
    assert [m.payload for m in plain.sent if isinstance(m, Content)] == [b"first", b"second"]
    assert south.sent == []  # not acked before the Norths stored
    stored_all(out, "custom", custom)
    stored_all(out, "plain", plain)
    assert south.sent == [Ack(seq=1), Ack(seq=2)]
    await out.close()


async def test_a_broken_runner_sends_the_input_to_the_error_cache_and_the_south_is_acked() -> None:
    out, custom, plain = fanout(ScriptedRunner())
    south = Link()
    out.route_south(south, "s1", content(5, b"boom"))
    await settle()
    (kept,) = [m for m in custom.sent if isinstance(m, Content)]
    assert kept.payload == b"boom" and kept.content_type == "any-content"
    assert kept.error == "custom transformer 'custom-1' failed: RuntimeError('runner broke')"
    stored_all(out, "custom", custom)
    stored_all(out, "plain", plain)
    assert south.sent == [Ack(seq=5)]
    await out.close()


async def test_api_content_is_transformed_before_it_is_delivered() -> None:
    out, custom, _ = fanout(ScriptedRunner())
    task = asyncio.create_task(out.ingest_api(content(0, b"api"), "src", None))
    await settle()
    (sent,) = [m for m in custom.sent if isinstance(m, Content)]
    assert (sent.payload, sent.content_type, sent.filename) == (b"API", "any", "out.txt")
    out.deliveries.answered("custom", sent.seq, None)
    result = await asyncio.wait_for(task, 5)
    assert result.stored == ("custom",)


async def test_without_a_runner_custom_rules_keep_their_input_in_the_error_cache() -> None:
    out, custom, _ = fanout(ScriptedRunner())
    out.custom = None
    task = asyncio.create_task(out.ingest_api(content(0, b"api"), "src", ["custom"]))
    await settle()
    (sent,) = [m for m in custom.sent if isinstance(m, Content)]
    assert sent.error == "custom transformer 'custom-1' cannot run in this engine"
    out.deliveries.answered("custom", sent.seq, None)
    assert (await asyncio.wait_for(task, 5)).stored == ("custom",)


async def test_closing_cancels_what_still_waits_and_acks_nothing() -> None:
    runner = ScriptedRunner()
    out, custom, _ = fanout(runner)
    south = Link()
    runner.gates[b"stuck"] = asyncio.Event()
    out.route_south(south, "s1", content(9, b"stuck"))
    await settle()
    await asyncio.wait_for(out.close(), 5)
    assert custom.sent == [] and south.sent == []
    assert cast(Any, out)._chains == {}
