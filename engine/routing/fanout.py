"""Fan-out: which Norths take a content, and what each stores of it (as is, split by rule, transformed).

``Fanout`` turns one content into the ``Parts`` of ``engine.routing.delivery`` (the durability contract);
it reads each North's decision from its ``NorthRoute`` (``engine.routing.router``) and runs the rule's
transformer (``engine.routing.transformers``). Every way content enters the engine ends here: a South
worker's ``Content`` frame (``route_south``) and the API and OIAnalytics entry points of ``Ingestion``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import structlog

from engine.ipc import Ack, Content, Message, Nack
from engine.routing.delivery import Deliveries, NorthSlot, Parts
from engine.routing.router import Decision, Rule, Verdict, split
from engine.routing.transformers import STANDARD, TransformError, content_bytes, transform_content
from engine.runtime import IngestResult

log = structlog.get_logger(__name__)

NO_TARGET = "no North connector takes this content: the source keeps it until one does"


class CustomRunner(Protocol):
    """Runs custom (JavaScript) transformer rules (``engine.sandbox.routing.CustomTransformers`` does)."""

    async def apply(self, transformer_id: str, rule: Rule | None, part: Content) -> Content | None:
        """The transformed part, ``None`` (nothing to send), or the part marked ``error`` for the error cache."""
        ...


@dataclass(frozen=True, slots=True)
class Pending:
    """A part a custom transformer rule applies to: it becomes what the North stores once the sandbox ran."""

    verdict: Verdict
    part: Content


Planned = list[tuple["NorthSlot[Any]", list[Content | Pending]]]
"""Parts per target North, some still to go through a custom transformer."""


class SouthLink(Protocol):
    """What the fan-out needs of a South's worker to answer it (``engine.supervisor.worker.Worker`` has it)."""

    @property
    def connected(self) -> bool:
        """Whether frames can be sent now."""
        ...

    @property
    def generation(self) -> int:
        """Which process of the worker this is (a new one re-reads its source)."""
        ...

    def send(self, message: Message) -> None:
        """Send one frame (raises ``WorkerGone``, a ``ConnectionError``, when the process went away)."""
        ...


class Fanout:
    """Parts of each content for every target North, handed to ``Deliveries``."""

    def __init__(
        self, norths: Mapping[str, NorthSlot[Any]], deliveries: Deliveries, custom: CustomRunner | None = None
    ) -> None:
        self.norths = norths
        self.deliveries = deliveries
        self.custom = custom
        """Where custom transformer rules run (``None``: they fail, and their input goes to the error cache)."""
        self._chains: dict[str, asyncio.Task[None]] = {}
        """Per South, the last of its contents waiting for a custom transformer: the next one waits for it,
        so a North stores a South's contents in the order the South sent them."""
        self.south_groups: dict[str, dict[str, str | None]] = {}
        """Per South, item id → group id."""
        self.south_item_ids: dict[str, dict[str, str]] = {}
        """Per South, item name → item id (a time-value's ``pointId`` is its item's name)."""
        self._transform_warnings: set[tuple[str, str]] = set()
        self.south_names: dict[str, str] = {}
        """Per South, its name (the scope of its warnings)."""
        self._unrouted: set[str] = set()
        """Souths whose content no North takes (warned once per episode)."""

    def set_south_items(self, south_id: str, items: list[dict[str, object]] | None) -> None:
        """Remember a South's items (``None``: the South is gone)."""
        if items is None:
            self.south_groups.pop(south_id, None)
            self.south_item_ids.pop(south_id, None)
            return
        self.south_groups[south_id] = {str(item["id"]): _group_of(item) for item in items}
        self.south_item_ids[south_id] = {str(item["name"]): str(item["id"]) for item in items}

    def parts(
        self,
        slot: NorthSlot[Any],
        content: Content,
        verdicts: dict[str | None, Verdict],
        item_ids_by_name: Mapping[str, str] | None = None,
        fallback: Callable[[], Verdict] | None = None,
    ) -> list[Content | Pending]:
        """What ``slot`` caches of ``content``: as is, or through its transformer rules (empty: not a target).

        A part for a custom transformer is left ``Pending``: :meth:`resolve` runs it in the sandbox.
        """
        contents: list[Content | Pending] = []
        for verdict, payload, count in split(
            verdicts, content.content_type, content.payload, item_ids_by_name, fallback
        ):
            part = content if payload is None else replace(content, payload=payload, count=count or 0)
            if verdict.transformer is None:
                contents.append(part)
            elif verdict.transformer not in STANDARD:
                contents.append(Pending(verdict, part))
            elif (transformed := self._transformed(slot, verdict, part)) is not None:
                contents.append(transformed)
        return contents

    async def resolve(self, planned: Planned) -> tuple[Parts, bool]:
        """Run the pending custom transformers; also tell whether a North was left nothing (dropped on purpose)."""
        parts: Parts = []
        emptied = False
        for slot, items in planned:
            contents: list[Content] = []
            for item in items:
                if isinstance(item, Pending):
                    contents.extend(await self._custom(item))
                else:
                    contents.append(item)
            if contents:
                parts.append((slot, contents))
            else:
                emptied = True
        return parts, emptied

    async def _custom(self, pending: Pending) -> list[Content]:
        """What a custom rule makes of a part: one run per file of a several-file part, one run otherwise."""
        part = pending.part
        if len(part.files) < 2:
            return [found] if (found := await self._custom_one(pending.verdict, part)) is not None else []
        results: list[Content] = []
        for path, name in part.files:
            single = replace(part, file_path=path, filename=name, files=[])
            if (found := await self._custom_one(pending.verdict, single)) is not None:
                results.append(found)
        return results

    async def _custom_one(self, verdict: Verdict, part: Content) -> Content | None:
        transformer_id = verdict.transformer
        assert transformer_id is not None
        if self.custom is None:
            return replace(part, error=f"custom transformer '{transformer_id}' cannot run in this engine")
        try:
            return await self.custom.apply(transformer_id, verdict.rule, part)
        except Exception as err:
            # Whatever went wrong, the input is kept (error cache) and routing goes on.
            log.exception("custom transformer run failed", transformer=transformer_id)
            return replace(part, error=f"custom transformer '{transformer_id}' failed: {err!r}")

    def _transformed(self, slot: NorthSlot[Any], verdict: Verdict, part: Content) -> Content | None:
        assert verdict.transformer is not None
        try:
            result = transform_content(
                verdict.transformer,
                verdict.rule.options if verdict.rule else None,
                part.content_type,
                content_bytes(part),
            )
        except TransformError as err:
            self._warn_transform(slot, verdict, str(err))
            return None
        if result is None:
            return None
        return replace(
            part,
            content_type=result.content_type,
            payload=result.payload,
            count=result.count,
            file_path=None,
            filename=result.filename,
            files=[],
        )

    def _warn_transform(self, slot: NorthSlot[Any], verdict: Verdict, error: str) -> None:
        # Once per North and rule: the same misrouted source would otherwise log on every batch.
        key = (slot.route.id, str(verdict.rule.id if verdict.rule else None))
        if key not in self._transform_warnings:
            self._transform_warnings.add(key)
            log.warning("transformer cannot handle content; dropped for this north", north=slot.route.id, error=error)

    def route_south(self, worker: SouthLink, south_id: str, content: Content) -> None:
        """Fan a South's content out; ack (or nack) that worker process once every target answered."""
        planned, ignored = self._plan_south(south_id, content)
        if south_id in self._chains or any(isinstance(item, Pending) for _, items in planned for item in items):
            self._later(south_id, partial(self._route_resolved, worker, south_id, content, planned, ignored))
            return
        ready = [(slot, _ready(items)) for slot, items in planned]
        self._dispatch_south(worker, south_id, content, ready, ignored)

    def _plan_south(self, south_id: str, content: Content) -> tuple[Planned, bool]:
        groups = self.south_groups.get(south_id, {})
        names = self.south_item_ids.get(south_id, {})
        planned: Planned = []
        ignored = False
        for slot in self.norths.values():
            verdicts = slot.route.decide_south(south_id, content.items, groups, content.content_type)
            # A value naming no known item follows the South-level decision (worked out only for a split batch).
            fallback = partial(slot.route.decide_item, south_id, None, None, content.content_type)
            contents = self.parts(slot, content, verdicts, names, fallback)
            if contents:
                planned.append((slot, contents))
            elif any(verdict.decision is not Decision.SKIP for verdict in verdicts.values()):
                ignored = True  # An ``ignore`` rule (or a transformer that left nothing): dropped on purpose.
        return planned, ignored

    def _later(self, south_id: str, job: Callable[[], Awaitable[None]]) -> None:
        """Run ``job`` once the South's previous pending content was dispatched (its order is kept)."""
        previous = self._chains.get(south_id)

        async def chained() -> None:
            if previous is not None:
                await asyncio.wait([previous])
            await job()

        task = asyncio.get_running_loop().create_task(chained(), name=f"fanout:{south_id}:custom-transformers")
        self._chains[south_id] = task
        task.add_done_callback(partial(self._chain_done, south_id))

    def _chain_done(self, south_id: str, task: asyncio.Task[None]) -> None:
        if self._chains.get(south_id) is task:
            del self._chains[south_id]
        if not task.cancelled() and task.exception() is not None:
            log.error("routing through custom transformers failed", south=south_id, error=repr(task.exception()))

    async def _route_resolved(
        self, worker: SouthLink, south_id: str, content: Content, planned: Planned, ignored: bool
    ) -> None:
        parts, emptied = await self.resolve(planned)
        self._dispatch_south(worker, south_id, content, parts, ignored or emptied)

    async def close(self) -> None:
        """Cancel the contents still waiting for a custom transformer (their Souths were not acked)."""
        chains = list(self._chains.values())
        for task in chains:
            task.cancel()
        if chains:
            await asyncio.wait(chains)

    def _dispatch_south(self, worker: SouthLink, south_id: str, content: Content, parts: Parts, ignored: bool) -> None:
        self._note_unrouted(south_id, bool(parts) or ignored)
        generation = worker.generation

        def done(result: IngestResult) -> None:
            if worker.generation != generation or not worker.connected:
                return  # that process is gone; its successor re-reads the source
            reply: Message
            if result.refused:
                reply = Nack(seq=content.seq, reason="; ".join(f"{n}: {r}" for n, r in result.refused.items()))
            elif not result.stored and not result.ignored:
                reply = Nack(seq=content.seq, reason=NO_TARGET)  # Not acknowledged: the South keeps its data.
            else:
                reply = Ack(seq=content.seq)
            with contextlib.suppress(ConnectionError):
                worker.send(reply)

        self.deliveries.dispatch(parts, done, ignored=ignored)

    def _note_unrouted(self, south_id: str, routed: bool) -> None:
        """Warn once when a South's content starts finding no North, and say when it finds one again."""
        if routed == (south_id not in self._unrouted):
            return
        scoped = log.bind(scopeType="south", scopeId=south_id, scopeName=self.south_names.get(south_id, south_id))
        if routed:
            self._unrouted.discard(south_id)
            scoped.info("a north connector takes this south's content again")
            return
        self._unrouted.add(south_id)
        scoped.warning(
            "no north connector takes this south's content: it stays at the source, unacknowledged, until one does"
            " (create or enable a North, or give one a routing rule for this South; 'ignore' drops on purpose)"
        )

    async def parts_by_verdict(
        self, content: Content, verdicts: list[tuple[NorthSlot[Any], Verdict]]
    ) -> tuple[Parts, bool]:
        """The parts of ``content`` for each candidate, and whether some candidate ignores it on purpose."""
        planned: Planned = []
        ignored = False
        for slot, verdict in verdicts:
            contents = self.parts(slot, content, {None: verdict})
            if contents:
                planned.append((slot, contents))
            elif verdict.decision is not Decision.SKIP:
                # An ``ignore`` rule, or a rule whose transformer left nothing to send: dropped on purpose.
                ignored = True
        parts, emptied = await self.resolve(planned)
        return parts, ignored or emptied

    async def ingest_api(self, content: Content, data_source_id: str, north_ids: list[str] | None) -> IngestResult:
        """Deliver API content to the Norths named, or to every North whose rules name its data source."""
        if north_ids:
            slots = [self.norths[north_id] for north_id in north_ids if north_id in self.norths]
        else:
            slots = [slot for slot in self.norths.values() if slot.route.names_api(data_source_id)]
        parts, ignored = await self.parts_by_verdict(
            content, [(slot, slot.route.decide_api(data_source_id, content.content_type)) for slot in slots]
        )
        return await self.deliveries.deliver(parts, ignored)


def _ready(items: list[Content | Pending]) -> list[Content]:
    """The parts of a plan that has nothing pending."""
    return [item for item in items if isinstance(item, Content)]


def _group_of(item: Mapping[str, object]) -> str | None:
    group = item.get("groupId")
    return None if group is None else str(group)


class Ingestion:
    """The entry points of content that no South worker sent (REST API, OIAnalytics setpoints).

    Mixed into ``engine.engine.Engine`` (they are part of ``engine.runtime.Runtime``); ``fanout`` does the work.
    """

    fanout: Fanout

    async def ingest_setpoints(self, setpoints_json: bytes, count: int, *, north_ids: list[str]) -> IngestResult:
        """Route setpoints (``[{reference, value}]``) from OIAnalytics to the Norths named, through their rules."""
        content = Content(
            seq=0,
            source_id="oianalytics",
            content_type="setpoint",
            payload=setpoints_json,
            count=count,
            source_type="oianalytics-setpoints",
        )
        norths = self.fanout.norths
        slots = [norths[north_id] for north_id in north_ids if north_id in norths]
        parts, ignored = await self.fanout.parts_by_verdict(
            content, [(slot, slot.route.decide_setpoints()) for slot in slots]
        )
        return await self.fanout.deliveries.deliver(parts, ignored)

    async def ingest_values(
        self, values_json: bytes, count: int, *, data_source_id: str, north_ids: list[str] | None
    ) -> IngestResult:
        """Route a JSON array of time-values from the API."""
        content = Content(
            seq=0,
            source_id=data_source_id,
            content_type="time-values",
            payload=values_json,
            count=count,
            source_type="oibus-api",
        )
        return await self.fanout.ingest_api(content, data_source_id, north_ids)

    async def ingest_file(
        self, path: Path, filename: str, *, data_source_id: str, north_ids: list[str] | None
    ) -> IngestResult:
        """Route an uploaded file (a private scratch file: Norths may hard-link it)."""
        content = Content(
            seq=0,
            source_id=data_source_id,
            content_type="any",
            file_path=str(path),
            filename=filename,
            owned=True,
            source_type="oibus-api",
        )
        return await self.fanout.ingest_api(content, data_source_id, north_ids)

    async def ingest_content(self, content: bytes, *, data_source_id: str, north_ids: list[str] | None) -> IngestResult:
        """Route an ``any-content`` payload from the API."""
        message = Content(
            seq=0,
            source_id=data_source_id,
            content_type="any-content",
            payload=content,
            count=1,
            source_type="oibus-api",
        )
        return await self.fanout.ingest_api(message, data_source_id, north_ids)
