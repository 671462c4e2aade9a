"""The engine's heart: one supervised worker per enabled connector, routing with the durability contract.

A South's content is fanned out to every target North; the South is acknowledged only once every target
stored it (or told why it could not). Content for a North whose worker is restarting waits in that
North's outbox and is sent again when the worker is back, so other Norths keep flowing meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import structlog

from connectors import registry
from engine.cache.north_operations import offline as offline_cache_operation
from engine.ipc import Ack, Content, Log, Message, Metrics, Nack, Reconfigure, Refused, Start, Stored, Trigger
from engine.logs import get_logger
from engine.paths import api_tmp_dir
from engine.routing.custom import CustomTransforms, Lookup, Pending
from engine.routing.router import Decision, NorthRoute, Verdict, split
from engine.routing.transformers import STANDARD, TransformError, content_bytes, transform_content
from engine.runtime import IngestResult
from engine.scheduler.scheduler import Scheduler
from engine.states import WorkerState
from engine.supervisor.worker import Knobs, Worker, WorkerGone

log = structlog.get_logger(__name__)

MAX_OUTBOX = 20_000
"""Contents waiting for one North before new content for it is refused (protects the engine's memory)."""

STORE_TIMEOUT_S = 30.0
"""A North that has not stored a content by then (crash loop, stuck disk) gets it refused: the source keeps
its data and sends it again later, and an API client is told to retry instead of waiting forever."""

_worker_log = get_logger("engine.worker")


class ConfigSource(Protocol):
    """What the engine reads from the configuration store (connector DTOs with secrets decrypted)."""

    def engine_name(self) -> str:
        """The engine name (``general.name``)."""
        ...

    def worker_log_level(self) -> str:
        """Most verbose level any log sink wants, so workers do not ship records nobody keeps."""
        ...

    def scan_modes(self) -> dict[str, str]:
        """Scan mode id → cron."""
        ...

    def souths(self) -> list[dict[str, Any]]:
        """Every South DTO (with items and groups)."""
        ...

    def norths(self) -> list[dict[str, Any]]:
        """Every North DTO."""
        ...

    def south(self, south_id: str) -> dict[str, Any] | None:
        """One South DTO, or None."""
        ...

    def north(self, north_id: str) -> dict[str, Any] | None:
        """One North DTO, or None."""
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


@dataclass(slots=True)
class NorthSlot:
    """Routing state of one enabled North: its rules and the contents it has not confirmed yet."""

    route: NorthRoute
    worker: Worker
    outbox: dict[int, tuple[Content, Delivery, float]] = field(default_factory=dict)
    """Contents sent (or waiting to be sent) and not yet confirmed, with their deadline, oldest first."""


class Engine:
    """Runs the connectors of one data folder (implements ``engine.runtime.Runtime``)."""

    def __init__(
        self,
        data_dir: Path,
        config: ConfigSource,
        *,
        knobs: Knobs | None = None,
        safe_mode: bool = False,
        store_timeout_s: float = STORE_TIMEOUT_S,
        custom_transformers: Lookup | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.custom = CustomTransforms(custom_transformers)
        self.config = config
        self.knobs = knobs or Knobs()
        self.safe_mode = safe_mode
        self.store_timeout_s = store_timeout_s
        self.souths: dict[str, Worker] = {}
        self.norths: dict[str, NorthSlot] = {}
        self.metrics: dict[str, dict[str, Any]] = {}
        self._south_groups: dict[str, dict[str, str | None]] = {}
        self._south_item_ids: dict[str, dict[str, str]] = {}
        """Per South, item name → item id (a time-value's ``pointId`` is its item's name)."""
        self._transform_warnings: set[tuple[str, str]] = set()
        self._seq = itertools.count(1)
        self._group: asyncio.TaskGroup | None = None
        self._scheduler = Scheduler(self.broadcast_trigger)
        self._lock = asyncio.Lock()
        self.settings_listeners: list[Callable[[], None]] = []
        self.metrics_listeners: list[Callable[[str, dict[str, Any]], None]] = []
        self.worker_start_listeners: list[Callable[[str], None]] = []
        """Called with the worker key (``south:<id>``) each time a worker process is spawned."""
        self._expiry: asyncio.Task[None] | None = None
        self.api_tmp = api_tmp_dir(data_dir)
        self._offline_caches: dict[str, asyncio.Lock] = {}
        """Held while the engine itself works on the cache folder of a North without a worker."""

    # ----------------------------------------------------------------------------------------- lifecycle

    async def start(self, group: asyncio.TaskGroup) -> None:
        """Start every enabled connector (Norths first, so Souths find their targets) and the crons."""
        self._group = group
        self.api_tmp.mkdir(parents=True, exist_ok=True)
        for leftover in self.api_tmp.iterdir():
            # Uploads whose POST never got its answer: the client will send them again.
            with contextlib.suppress(OSError):
                leftover.unlink()
        self._scheduler.start(group, self.config.scan_modes())
        self._expiry = group.create_task(self._expire_outboxes(), name="engine:outbox-expiry")
        if self.safe_mode:
            log.warning("safe mode: connectors are not started")
            return
        for dto in self.config.norths():
            await self.reconcile_north(dto["id"])
        for dto in self.config.souths():
            await self.reconcile_south(dto["id"])

    async def stop(self) -> None:
        """Stop Souths first (their runs end), then Norths (their caches flush), then the crons."""
        await self._scheduler.stop()
        if self._expiry is not None:
            self._expiry.cancel()
        await asyncio.gather(*(worker.stop() for worker in self.souths.values()))
        self.souths.clear()
        await asyncio.gather(*(slot.worker.stop() for slot in self.norths.values()))
        for slot in self.norths.values():
            self._refuse_outbox(slot, "engine stopping")
        self.norths.clear()
        await self.custom.close()

    # ----------------------------------------------------------------------------------------- runtime

    def _start_message(self, role: str, connector_id: str) -> Callable[[], Start]:
        def build() -> Start:
            dto = self.config.south(connector_id) if role == "south" else self.config.north(connector_id)
            if dto is None:
                raise RuntimeError(f"{role} {connector_id} vanished")
            return Start(
                role=role,
                connector=dto,
                data_dir=str(self.data_dir),
                engine_name=self.config.engine_name(),
                log_level=self.config.worker_log_level(),
            )

        return build

    def _new_worker(self, role: str, connector_id: str) -> Worker:
        worker = Worker(
            f"{role}:{connector_id}",
            role,
            self._start_message(role, connector_id),
            self,
            self.knobs,
            cwd=str(self.data_dir),
        )
        assert self._group is not None, "engine not started"
        worker.start(self._group)
        return worker

    async def reconcile_south(self, south_id: str) -> None:
        """Start, reconfigure or stop the worker of ``south_id`` to match the store."""
        async with self._lock:
            dto = self.config.south(south_id)
            worker = self.souths.get(south_id)
            wanted = dto is not None and bool(dto.get("enabled")) and not self.safe_mode
            if dto is not None:
                self._south_groups[south_id] = {item["id"]: item.get("groupId") for item in dto.get("items") or []}
                self._south_item_ids[south_id] = {item["name"]: item["id"] for item in dto.get("items") or []}
            if not wanted:
                if worker is not None:
                    del self.souths[south_id]
                    await worker.stop()
                if dto is None:
                    self._south_groups.pop(south_id, None)
                    self._south_item_ids.pop(south_id, None)
                return
            assert dto is not None
            if worker is None:
                self.souths[south_id] = self._new_worker("south", south_id)
            else:
                self._reconfigure(worker, dto)

    async def reconcile_north(self, north_id: str) -> None:
        """Same for a North; its routing rules are refreshed at once."""
        async with self._lock:
            dto = self.config.north(north_id)
            slot = self.norths.get(north_id)
            wanted = dto is not None and bool(dto.get("enabled")) and not self.safe_mode
            if not wanted:
                if slot is not None:
                    del self.norths[north_id]
                    # Until its worker has closed the cache, the engine must not open the folder itself.
                    async with self._offline_cache_lock(north_id):
                        await slot.worker.stop()
                    self._refuse_outbox(slot, "North connector stopped")
                return
            assert dto is not None
            route = NorthRoute.from_dto(dto, registry.manifest("north", dto["type"]).types)
            if slot is None:
                # Its cache folder must not be open twice: wait for an operation the engine runs on it.
                async with self._offline_cache_lock(north_id):
                    self.norths[north_id] = NorthSlot(route=route, worker=self._new_worker("north", north_id))
            else:
                slot.route = route
                self._reconfigure(slot.worker, dto)

    def _reconfigure(self, worker: Worker, dto: dict[str, Any]) -> None:
        if worker.state is WorkerState.RUNNING:
            with contextlib.suppress(WorkerGone):
                worker.send(Reconfigure(connector=dto))
                return
        # Not connected: the next spawn reads the new settings; do not wait for the backoff.
        worker.wake()

    async def engine_settings_changed(self) -> None:
        """Tell every listener (the log pipeline) that the engine settings changed."""
        for listener in self.settings_listeners:
            try:
                listener()
            except Exception:
                log.exception("engine settings listener failed")

    async def reload_scan_modes(self) -> None:
        """Reschedule the crons after a scan mode change."""
        self._scheduler.update(self.config.scan_modes())

    def _worker(self, kind: str, connector_id: str) -> Worker | None:
        if kind == "south":
            return self.souths.get(connector_id)
        slot = self.norths.get(connector_id)
        return slot.worker if slot is not None else None

    def _workers(self) -> list[Worker]:
        return [*self.souths.values(), *(slot.worker for slot in self.norths.values())]

    def connector_state(self, kind: str, connector_id: str) -> dict[str, Any]:
        """Supervision state of a connector's worker."""
        worker = self._worker(kind, connector_id)
        if worker is None:
            return {"state": WorkerState.STOPPED.label, "pid": None, "restarts": 0}
        return {"state": worker.state.label, "pid": worker.pid, "restarts": worker.restarts}

    def connector_metrics(self) -> dict[str, dict[str, Any]]:
        """Latest metrics of each worker, with its supervision state and restart count."""
        return {
            worker.key: {**self.metrics.get(worker.key, {}), "state": worker.state.label, "restarts": worker.restarts}
            for worker in self._workers()
        }

    async def worker_request(
        self, kind: str, connector_id: str, method: str, params: dict[str, Any] | None = None, timeout_s: float = 30.0
    ) -> Any:
        """Call ``method`` in the worker of a running connector (connection test, cache search...).

        Raises ``WorkerGone`` when the connector has no running worker, ``TimeoutError`` when it does not
        answer, and ``RuntimeError`` with the worker's message when the call failed there.
        """
        worker = self._worker(kind, connector_id)
        if worker is None or not worker.connected:
            raise WorkerGone(f"{kind} {connector_id} is not running")
        return await worker.request(method, params or {}, timeout_s=timeout_s)

    def _offline_cache_lock(self, north_id: str) -> asyncio.Lock:
        return self._offline_caches.setdefault(north_id, asyncio.Lock())

    async def north_cache_request(
        self, north_id: str, method: str, params: dict[str, Any], timeout_s: float = 60.0
    ) -> Any:
        """Run a cache operation (``engine.cache.north_operations``) for the North ``north_id``.

        A North with a worker has it done there (``worker_request``: ``WorkerGone`` while the worker is not
        connected). A North without one (disabled, or safe mode) has its cache folder opened here: no worker
        can start meanwhile, since ``reconcile_north`` waits for the same lock before spawning one.
        """
        if north_id in self.norths:
            return await self.worker_request("north", north_id, method, params, timeout_s)
        async with self._offline_cache_lock(north_id):
            if north_id in self.norths:  # Started while this request waited for the lock.
                return await self.worker_request("north", north_id, method, params, timeout_s)
            try:
                async with asyncio.timeout(timeout_s):
                    return await offline_cache_operation(
                        self.data_dir, north_id, method, params, logger=log.bind(north_id=north_id)
                    )
            except OSError as err:
                raise RuntimeError(f"cannot work on the cache folder of North {north_id}: {err}") from err

    def broadcast_trigger(self, scan_mode_id: str) -> None:
        """Fan a cron tick out to every connected worker (each knows which of its items use it)."""
        trigger = Trigger(scan_mode_id=scan_mode_id)
        for worker in self._workers():
            if worker.connected:
                with contextlib.suppress(WorkerGone):
                    worker.send(trigger)

    # ----------------------------------------------------------------------------------------- workers

    def on_state(self, worker: Worker, state: WorkerState) -> None:
        """A North back to RUNNING gets its outbox again; a FATAL one refuses what waits for it."""
        if state is WorkerState.STARTING:
            # A new process: its counters start from zero, and every frame of the previous one was read.
            for listener in self.worker_start_listeners:
                listener(worker.key)
        if worker.role != "north":
            return
        slot = self.norths.get(worker.key.split(":", 1)[1])
        if slot is None or slot.worker is not worker:
            return
        if state is WorkerState.RUNNING:
            for content, _, _ in list(slot.outbox.values()):
                worker.send(content)
        elif state is WorkerState.FATAL:
            self._refuse_outbox(slot, "North connector cannot run with its settings")

    def on_message(self, worker: Worker, message: Message) -> None:
        """Dispatch a frame from a worker."""
        connector_id = worker.key.split(":", 1)[1]
        if isinstance(message, Content):
            self._route_south(worker, connector_id, message)
        elif isinstance(message, Stored | Refused):
            slot = self.norths.get(connector_id)
            if slot is not None:
                entry = slot.outbox.pop(message.seq, None)
                if entry is not None:
                    entry[1].answer(connector_id, None if isinstance(message, Stored) else message.reason)
        elif isinstance(message, Log):
            self._relog(worker, message)
        elif isinstance(message, Metrics):
            self.metrics[worker.key] = message.values
            for listener in self.metrics_listeners:
                listener(worker.key, message.values)

    def _relog(self, worker: Worker, message: Log) -> None:
        # The worker bound its scope (scopeType, scopeId, scopeName): the record keeps it as its own.
        _worker_log.log(message.level, message.event, **message.fields)

    # ----------------------------------------------------------------------------------------- routing

    def _dispatch(
        self,
        parts: list[tuple[NorthSlot, list[Content]]],
        on_done: Callable[[IngestResult], None],
        *,
        ignored: bool = True,
    ) -> None:
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

    def _send_part(self, slot: NorthSlot, content: Content, delivery: Delivery) -> None:
        if len(slot.outbox) >= MAX_OUTBOX:
            delivery.answer(slot.route.id, "North connector is not keeping up; try again later")
            return
        seq = next(self._seq)
        outgoing = replace(content, seq=seq)
        slot.outbox[seq] = (outgoing, delivery, time.monotonic() + self.store_timeout_s)
        if slot.worker.connected:
            with contextlib.suppress(WorkerGone):
                slot.worker.send(outgoing)
        elif slot.worker.state is WorkerState.FATAL:
            slot.outbox.pop(seq, None)
            delivery.answer(slot.route.id, "North connector cannot run with its settings")

    def _parts(
        self,
        slot: NorthSlot,
        content: Content,
        verdicts: dict[str | None, Verdict],
        item_ids_by_name: Mapping[str, str] | None = None,
        fallback: Callable[[], Verdict] | None = None,
    ) -> list[Content | Pending]:
        """What ``slot`` caches of ``content``: as is, or through its transformer rules (empty: not a target).

        A part for a custom transformer is ``Pending``: it runs in the sandbox, see :meth:`_resolve`.
        """
        contents: list[Content | Pending] = []
        for verdict, payload, count in split(
            verdicts, content.content_type, content.payload, item_ids_by_name, fallback
        ):
            part = content if payload is None else replace(content, payload=payload, count=count or 0)
            transformer = verdict.transformer
            if transformer is None:
                contents.append(part)
                continue
            if transformer not in STANDARD:
                contents.append(Pending(part, transformer, verdict))
                continue
            try:
                result = transform_content(
                    transformer, (verdict.rule or {}).get("options"), part.content_type, content_bytes(part)
                )
            except TransformError as err:
                self._warn_transform(slot, verdict, str(err))
                continue
            if result is not None:
                contents.append(
                    replace(
                        part,
                        content_type=result.content_type,
                        payload=result.payload,
                        count=result.count,
                        file_path=None,
                        filename=result.filename,
                        files=[],
                    )
                )
        return contents

    def _warn_transform(self, slot: NorthSlot, verdict: Verdict, error: str) -> None:
        # Once per North and rule: the same misrouted source would otherwise log on every batch.
        key = (slot.route.id, str((verdict.rule or {}).get("id")))
        if key not in self._transform_warnings:
            self._transform_warnings.add(key)
            log.warning("transformer cannot handle content; dropped for this north", north=slot.route.id, error=error)

    def _route_south(self, worker: Worker, south_id: str, content: Content) -> None:
        groups = self._south_groups.get(south_id, {})
        names = self._south_item_ids.get(south_id, {})
        parts: list[tuple[NorthSlot, list[Content | Pending]]] = []
        for slot in self.norths.values():
            verdicts = slot.route.decide_south(south_id, content.items, groups, content.content_type)
            # A value naming no known item follows the South-level decision (worked out only for a split batch).
            fallback = partial(slot.route.decide_item, south_id, None, None, content.content_type)
            pending = self._parts(slot, content, verdicts, names, fallback)
            if pending:
                parts.append((slot, pending))
        generation = worker.generation

        def done(result: IngestResult) -> None:
            if worker.generation != generation or not worker.connected:
                return  # that process is gone; its successor re-reads the source
            reply: Message = (
                Ack(seq=content.seq)
                if not result.refused
                else Nack(seq=content.seq, reason="; ".join(f"{n}: {r}" for n, r in result.refused.items()))
            )
            with contextlib.suppress(WorkerGone):
                worker.send(reply)

        if not any(isinstance(item, Pending) for _, items in parts for item in items) or self._group is None:
            self._dispatch(self._ready(parts), done)
            return
        # Custom transformers run in the sandbox process: route once they answered, off the message loop.
        self._group.create_task(self._dispatch_resolved(parts, done), name=f"engine:custom-transform:{south_id}")

    def _api_parts(
        self, content: Content, data_source_id: str, north_ids: list[str] | None
    ) -> tuple[list[tuple[NorthSlot, list[Content | Pending]]], bool]:
        """What each target North caches of API content, and whether some candidate ignores it on purpose."""
        if north_ids:
            slots = [self.norths[north_id] for north_id in north_ids if north_id in self.norths]
        else:
            slots = [slot for slot in self.norths.values() if slot.route.names_api(data_source_id)]
        return self._parts_by_verdict(
            content, [(slot, slot.route.decide_api(data_source_id, content.content_type)) for slot in slots]
        )

    def _parts_by_verdict(
        self, content: Content, verdicts: list[tuple[NorthSlot, Verdict]]
    ) -> tuple[list[tuple[NorthSlot, list[Content | Pending]]], bool]:
        parts: list[tuple[NorthSlot, list[Content | Pending]]] = []
        ignored = False
        for slot, verdict in verdicts:
            contents = self._parts(slot, content, {None: verdict})
            if contents:
                parts.append((slot, contents))
            elif verdict.decision is not Decision.SKIP:
                # An ``ignore`` rule, or a rule whose transformer left nothing to send: dropped on purpose.
                ignored = True
        return parts, ignored

    async def _ingest(self, content: Content, data_source_id: str, north_ids: list[str] | None) -> IngestResult:
        parts, ignored = self._api_parts(content, data_source_id, north_ids)
        return await self._deliver(parts, ignored)

    async def _resolve(self, slot: NorthSlot, items: list[Content | Pending]) -> list[Content]:
        """Run the custom transformers of ``items`` (a failure drops that part with one warning)."""
        contents: list[Content] = []
        for item in items:
            if isinstance(item, Content):
                contents.append(item)
                continue
            part = item.part
            try:
                result = await self.custom.apply(
                    item.transformer_id,
                    (item.verdict.rule or {}).get("options"),
                    part.content_type,
                    content_bytes(part),
                    part.filename,
                )
            except TransformError as err:
                self._warn_transform(slot, item.verdict, str(err))
                continue
            if result is not None:
                contents.append(
                    replace(
                        part,
                        content_type=result.content_type,
                        payload=result.payload,
                        count=result.count,
                        file_path=None,
                        filename=result.filename,
                        files=[],
                    )
                )
        return contents

    @staticmethod
    def _ready(parts: list[tuple[NorthSlot, list[Content | Pending]]]) -> list[tuple[NorthSlot, list[Content]]]:
        return [(slot, [item for item in items if isinstance(item, Content)]) for slot, items in parts]

    async def _resolved(
        self, parts: list[tuple[NorthSlot, list[Content | Pending]]]
    ) -> list[tuple[NorthSlot, list[Content]]]:
        resolved = [(slot, await self._resolve(slot, items)) for slot, items in parts]
        return [(slot, contents) for slot, contents in resolved if contents]

    async def _dispatch_resolved(
        self, parts: list[tuple[NorthSlot, list[Content | Pending]]], on_done: Callable[[IngestResult], None]
    ) -> None:
        self._dispatch(await self._resolved(parts), on_done)

    async def _deliver(self, pending: list[tuple[NorthSlot, list[Content | Pending]]], ignored: bool) -> IngestResult:
        parts = await self._resolved(pending)
        future: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()

        def done(result: IngestResult) -> None:
            if not future.done():
                future.set_result(result)

        self._dispatch(parts, done, ignored=ignored)
        return await future

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
        slots = [self.norths[north_id] for north_id in north_ids if north_id in self.norths]
        parts, ignored = self._parts_by_verdict(content, [(slot, slot.route.decide_setpoints()) for slot in slots])
        return await self._deliver(parts, ignored)

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
        return await self._ingest(content, data_source_id, north_ids)

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
        return await self._ingest(content, data_source_id, north_ids)

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
        return await self._ingest(message, data_source_id, north_ids)

    def _refuse_outbox(self, slot: NorthSlot, reason: str) -> None:
        entries = list(slot.outbox.values())
        slot.outbox.clear()
        for _, delivery, _ in entries:
            delivery.answer(slot.route.id, reason)

    async def _expire_outboxes(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
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
