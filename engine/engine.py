"""The engine's heart: one supervised worker per enabled connector, routing with the durability contract.

A South is acked once every target North stored its content (``engine.routing.delivery``, outboxes included);
history queries run in ``engine.history_query``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import ChainMap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from connectors import registry
from engine.cache.north.operations import OfflineCaches
from engine.config_source import ConfigSource, start_message
from engine.history_query.runs import HistoryRuns
from engine.ipc import ConnectorState, Content, Log, Message, Metrics, Reconfigure, Refused, Stored
from engine.logs import get_logger
from engine.paths import api_tmp_dir
from engine.routing.delivery import STORE_TIMEOUT_S, Deliveries, NorthSlot
from engine.routing.fanout import Fanout, Ingestion
from engine.routing.parked import ParkedNorths
from engine.routing.router import NorthRoute
from engine.sandbox.routing import CustomTransformers, lookup_in
from engine.scheduler.scheduler import Scheduler
from engine.states import WorkerState
from engine.supervisor.queries import WorkerQueries
from engine.supervisor.worker import Knobs, Worker, WorkerGone

log = structlog.get_logger(__name__)
_worker_log = get_logger("engine.worker")
__all__ = ["ConfigSource", "Engine", "NorthSlot"]  # ConfigSource: engine.config_source


class Engine(Ingestion, WorkerQueries):
    """Runs the connectors of one data folder (implements ``engine.runtime.Runtime``).

    It reconciles workers with the store and wires their frames: content to ``fanout`` (routing), answers
    to ``deliveries`` (the durability contract, ``engine.routing.delivery``).
    """

    def __init__(
        self,
        data_dir: Path,
        config: ConfigSource,
        *,
        knobs: Knobs | None = None,
        safe_mode: bool = False,
        store_timeout_s: float = STORE_TIMEOUT_S,
    ) -> None:
        self.data_dir = data_dir
        self.config = config
        self.knobs = knobs or Knobs()
        self.safe_mode = safe_mode
        self.store_timeout_s = store_timeout_s
        self.souths: dict[str, Worker] = {}
        self.norths: dict[str, NorthSlot[Worker]] = {}
        self.offline_caches = OfflineCaches(data_dir)
        self.parked = ParkedNorths(data_dir, self.offline_caches.lock)
        """Norths without a worker (disabled): still targets, the engine stores their content in their cache."""
        targets: ChainMap[str, NorthSlot[Any]] = ChainMap(self.norths, self.parked.slots)
        self.deliveries = Deliveries(targets, store_timeout_s=store_timeout_s)
        self.custom_transformers = custom = CustomTransformers(lookup_in(config))
        """The one sandbox process custom transformer rules run in (started on first use)."""
        self.fanout = Fanout(targets, self.deliveries, custom)
        self._connector_states: dict[str, ConnectorState] = {}
        """Per worker key, the connector's own state as its worker last reported it."""
        self.metrics: dict[str, dict[str, Any]] = {}
        self._group: asyncio.TaskGroup | None = None
        self._scheduler = Scheduler(self.broadcast_trigger)
        self._lock = asyncio.Lock()
        self.settings_listeners: list[Callable[[], None]] = []
        self.metrics_listeners: list[Callable[[str, dict[str, Any]], None]] = []
        self.worker_start_listeners: list[Callable[[str], None]] = []
        """Called with the worker key (``south:<id>``) each time a worker process is spawned."""
        self._expiry: asyncio.Task[None] | None = None
        self.api_tmp = api_tmp_dir(data_dir)
        self.history: HistoryRuns = HistoryRuns(data_dir, config, self.knobs, safe_mode, self.on_message, custom)

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
        self._expiry = group.create_task(self.deliveries.run_expiry(), name="engine:outbox-expiry")
        self.parked.start(group)
        await self.history.start(group)
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
        await self.history.stop()
        await asyncio.gather(*(worker.stop() for worker in self.souths.values()))
        self.souths.clear()
        await self.fanout.close()
        await self.custom_transformers.close()
        await asyncio.gather(*(slot.worker.stop() for slot in self.norths.values()))
        self.deliveries.refuse_all(self.norths.values(), "engine stopping")
        self.norths.clear()
        await self.parked.close()

    # ----------------------------------------------------------------------------------------- runtime

    def _new_worker(self, role: str, connector_id: str) -> Worker:
        dto = (self.config.south(connector_id) if role == "south" else self.config.north(connector_id)) or {}
        scope = {"scopeType": role, "scopeId": connector_id, "scopeName": dto.get("name") or connector_id}
        worker = Worker(
            f"{role}:{connector_id}",
            role,
            start_message(self.config, self.data_dir, role, connector_id),
            self,
            self.knobs,
            cwd=str(self.data_dir),
            scope=scope,
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
                self.fanout.set_south_items(south_id, dto.get("items") or [])
                self.fanout.south_names[south_id] = str(dto.get("name") or south_id)
            if not wanted:
                if worker is not None:
                    del self.souths[south_id]
                    await worker.stop()
                if dto is None:
                    self.fanout.set_south_items(south_id, None)
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
            # In safe mode nothing is collected: a stopped North is parked only when the engine runs connectors.
            parked = None if wanted or self.safe_mode else dto
            await self.parked.park(north_id, parked, lambda kind: registry.manifest("north", kind).types)
            if not wanted:
                if slot is not None:
                    del self.norths[north_id]
                    # Until its worker has closed the cache, the engine must not open the folder itself.
                    async with self.offline_caches.lock(north_id):
                        await slot.worker.stop()
                    self.deliveries.refuse_outbox(slot, "North connector stopped")
                return
            assert dto is not None
            route = NorthRoute.from_dto(dto, registry.manifest("north", dto["type"]).types)
            if slot is None:
                # Its cache folder must not be open twice: wait for an operation the engine runs on it.
                await self.parked.caches.release(north_id)
                async with self.offline_caches.lock(north_id):
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

    # ----------------------------------------------------------------------------------------- workers

    def on_state(self, worker: Worker, state: WorkerState) -> None:
        """A North back to RUNNING gets its outbox again; a FATAL one refuses what waits for it."""
        if state is WorkerState.STARTING:
            # A new process: its counters start from zero, and every frame of the previous one was read.
            self._connector_states.pop(worker.key, None)
            for listener in self.worker_start_listeners:
                listener(worker.key)
        if worker.role != "north":
            return
        slot = self.norths.get(worker.key.split(":", 1)[1])
        if slot is None or slot.worker is not worker:
            return
        if state is WorkerState.RUNNING:
            self.deliveries.resend(slot)
        elif state is WorkerState.FATAL:
            self.deliveries.refuse_outbox(slot, "North connector cannot run with its settings")

    def on_message(self, worker: Worker, message: Message) -> None:
        """Dispatch a frame from a worker."""
        connector_id = worker.key.split(":", 1)[1]
        if isinstance(message, Content):
            self.fanout.route_south(worker, connector_id, message)
        elif isinstance(message, Stored | Refused):
            reason = None if isinstance(message, Stored) else message.reason
            self.deliveries.answered(connector_id, message.seq, reason)
        elif isinstance(message, Log):
            self._relog(worker, message)
        elif isinstance(message, ConnectorState):
            self._connector_states[worker.key] = message
        elif isinstance(message, Metrics):
            self.metrics[worker.key] = message.values
            for listener in self.metrics_listeners:
                listener(worker.key, message.values)

    def _relog(self, worker: Worker, message: Log) -> None:
        # The worker bound its scope (scopeType, scopeId, scopeName): the record keeps it as its own. A record
        # sent before the runner bound it (a connector that cannot even be built) gets the worker's.
        _worker_log.log(message.level, message.event, **{**worker.scope, **message.fields})
