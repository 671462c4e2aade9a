"""Fan-out: which Norths take a content, and what each stores of it (as is, split by rule, transformed).

``Fanout`` turns one content into the ``Parts`` of ``engine.routing.delivery`` (the durability contract);
it reads each North's decision from its ``NorthRoute`` (``engine.routing.router``) and runs the rule's
transformer (``engine.routing.transformers``). Every way content enters the engine ends here: a South
worker's ``Content`` frame (``route_south``) and the API and OIAnalytics entry points of ``Ingestion``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import structlog

from engine.ipc import Ack, Content, Message, Nack
from engine.routing.delivery import Deliveries, NorthSlot, Parts
from engine.routing.router import Decision, Verdict, split
from engine.routing.transformers import STANDARD, TransformError, content_bytes, transform_content
from engine.runtime import IngestResult

log = structlog.get_logger(__name__)

NO_TARGET = "no North connector takes this content: the source keeps it until one does"


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

    def __init__(self, norths: Mapping[str, NorthSlot[Any]], deliveries: Deliveries) -> None:
        self.norths = norths
        self.deliveries = deliveries
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
    ) -> list[Content]:
        """What ``slot`` caches of ``content``: as is, or through its transformer rules (empty: not a target)."""
        contents: list[Content] = []
        for verdict, payload, count in split(
            verdicts, content.content_type, content.payload, item_ids_by_name, fallback
        ):
            part = content if payload is None else replace(content, payload=payload, count=count or 0)
            if verdict.transformer is None:
                contents.append(part)
                continue
            transformed = self._transformed(slot, verdict, part)
            if transformed is not None:
                contents.append(transformed)
        return contents

    def _transformed(self, slot: NorthSlot[Any], verdict: Verdict, part: Content) -> Content | None:
        assert verdict.transformer is not None
        if verdict.transformer not in STANDARD:
            # Custom transformers run in the sandbox process; the routing path does not call it yet.
            self._warn_transform(slot, verdict, f"custom transformer '{verdict.transformer}' is not run on routing yet")
            return None
        try:
            result = transform_content(
                verdict.transformer, (verdict.rule or {}).get("options"), part.content_type, content_bytes(part)
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
        key = (slot.route.id, str((verdict.rule or {}).get("id")))
        if key not in self._transform_warnings:
            self._transform_warnings.add(key)
            log.warning("transformer cannot handle content; dropped for this north", north=slot.route.id, error=error)

    def route_south(self, worker: SouthLink, south_id: str, content: Content) -> None:
        """Fan a South's content out; ack (or nack) that worker process once every target answered."""
        groups = self.south_groups.get(south_id, {})
        names = self.south_item_ids.get(south_id, {})
        parts: Parts = []
        ignored = False
        for slot in self.norths.values():
            verdicts = slot.route.decide_south(south_id, content.items, groups, content.content_type)
            # A value naming no known item follows the South-level decision (worked out only for a split batch).
            fallback = partial(slot.route.decide_item, south_id, None, None, content.content_type)
            contents = self.parts(slot, content, verdicts, names, fallback)
            if contents:
                parts.append((slot, contents))
            elif any(verdict.decision is not Decision.SKIP for verdict in verdicts.values()):
                ignored = True  # An ``ignore`` rule (or a transformer that left nothing): dropped on purpose.
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

    def parts_by_verdict(self, content: Content, verdicts: list[tuple[NorthSlot[Any], Verdict]]) -> tuple[Parts, bool]:
        """The parts of ``content`` for each candidate, and whether some candidate ignores it on purpose."""
        parts: Parts = []
        ignored = False
        for slot, verdict in verdicts:
            contents = self.parts(slot, content, {None: verdict})
            if contents:
                parts.append((slot, contents))
            elif verdict.decision is not Decision.SKIP:
                # An ``ignore`` rule, or a rule whose transformer left nothing to send: dropped on purpose.
                ignored = True
        return parts, ignored

    async def ingest_api(self, content: Content, data_source_id: str, north_ids: list[str] | None) -> IngestResult:
        """Deliver API content to the Norths named, or to every North whose rules name its data source."""
        if north_ids:
            slots = [self.norths[north_id] for north_id in north_ids if north_id in self.norths]
        else:
            slots = [slot for slot in self.norths.values() if slot.route.names_api(data_source_id)]
        parts, ignored = self.parts_by_verdict(
            content, [(slot, slot.route.decide_api(data_source_id, content.content_type)) for slot in slots]
        )
        return await self.deliveries.deliver(parts, ignored)


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
        parts, ignored = self.fanout.parts_by_verdict(
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
