"""The engine's heart: one supervised worker per enabled connector, routing with the durability contract.

A South's content is fanned out to every target North; the South is acknowledged only once every target
stored it (or told why it could not). Content for a North whose worker is restarting waits in that
North's outbox and is sent again when the worker is back, so other Norths keep flowing meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import structlog

from connectors import registry
from engine.cache.north.operations import offline as offline_cache_operation
from engine.ipc import Content, Log, Message, Metrics, Reconfigure, Refused, Start, Stored, Trigger
from engine.logs import get_logger
from engine.paths import api_tmp_dir
from engine.routing.delivery import STORE_TIMEOUT_S, Deliveries, NorthSlot
from engine.routing.fanout import Fanout, Ingestion
from engine.routing.router import NorthRoute
from engine.scheduler.scheduler import Scheduler
from engine.states import WorkerState
from engine.supervisor.worker import Knobs, Worker, WorkerGone

log = structlog.get_logger(__name__)

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


__all__ = ["ConfigSource", "Engine", "NorthSlot"]


class Engine(Ingestion):
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
        self.deliveries = Deliveries(self.norths, store_timeout_s=store_timeout_s)
        self.fanout = Fanout(self.norths, self.deliveries)
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
        self._expiry = group.create_task(self.deliveries.run_expiry(), name="engine:outbox-expiry")
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
        self.deliveries.refuse_all(self.norths.values(), "engine stopping")
        self.norths.clear()

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
                self.fanout.set_south_items(south_id, dto.get("items") or [])
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
            if not wanted:
                if slot is not None:
                    del self.norths[north_id]
                    # Until its worker has closed the cache, the engine must not open the folder itself.
                    async with self._offline_cache_lock(north_id):
                        await slot.worker.stop()
                    self.deliveries.refuse_outbox(slot, "North connector stopped")
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
        """Run a cache operation (``engine.cache.north.operations``) for the North ``north_id``.

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
        elif isinstance(message, Metrics):
            self.metrics[worker.key] = message.values
            for listener in self.metrics_listeners:
                listener(worker.key, message.values)

    def _relog(self, worker: Worker, message: Log) -> None:
        # The worker bound its scope (scopeType, scopeId, scopeName): the record keeps it as its own.
        _worker_log.log(message.level, message.event, **message.fields)
