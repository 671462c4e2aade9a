"""What the engine answers about its workers, and what it asks them: state, metrics, requests, cron ticks.

Mixed into ``engine.engine.Engine`` (part of ``engine.runtime.Runtime``), which owns the worker tables.
"""

from __future__ import annotations

import contextlib
from typing import Any, Protocol

import structlog

from engine.cache.north.operations import OfflineCaches
from engine.ipc import ConnectorState, Trigger
from engine.routing.delivery import NorthSlot
from engine.routing.parked import ParkedNorths
from engine.states import WorkerState
from engine.supervisor.worker import Worker, WorkerGone

log = structlog.get_logger("engine.engine")


class WorkerGroup(Protocol):
    """Workers the engine supervises besides its connectors' (the history queries' runs)."""

    def workers(self) -> list[Worker]:
        """Every worker of the group."""
        ...


class WorkerQueries:
    """Lookups over ``souths`` (id → worker) and ``norths`` (id → routing slot with its worker)."""

    souths: dict[str, Worker]
    norths: dict[str, NorthSlot[Worker]]
    metrics: dict[str, dict[str, Any]]
    _connector_states: dict[str, ConnectorState]
    offline_caches: OfflineCaches
    parked: ParkedNorths
    history: WorkerGroup

    def _worker(self, kind: str, connector_id: str) -> Worker | None:
        if kind == "south":
            return self.souths.get(connector_id)
        slot = self.norths.get(connector_id)
        return slot.worker if slot is not None else None

    def _workers(self) -> list[Worker]:
        return [*self.souths.values(), *(slot.worker for slot in self.norths.values()), *self.history.workers()]

    def connector_state(self, kind: str, connector_id: str) -> dict[str, Any]:
        """Supervision state of a connector's worker."""
        worker = self._worker(kind, connector_id)
        if worker is None:
            return {"state": WorkerState.STOPPED.label, "pid": None, "restarts": 0, "connector": None}
        return {
            "state": worker.state.label,
            "pid": worker.pid,
            "restarts": worker.restarts,
            "connector": self._connector_view(worker),
        }

    def _connector_view(self, worker: Worker) -> dict[str, Any] | None:
        """The connector's own state (``connected``, ``retrying``...) while its process runs, else None."""
        reported = self._connector_states.get(worker.key)
        if reported is None or worker.state is not WorkerState.RUNNING:
            return None
        return {
            "state": reported.state,
            "since": reported.since,
            "lastError": reported.error,
            "nextAttempt": reported.next_attempt,
        }

    def connector_metrics(self) -> dict[str, dict[str, Any]]:
        """Latest metrics of each worker, with its supervision state and restart count."""
        return {
            worker.key: {
                **self.metrics.get(worker.key, {}),
                "state": worker.state.label,
                "restarts": worker.restarts,
                "connectorState": (self._connector_view(worker) or {}).get("state"),
            }
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
        await self.parked.caches.release(north_id)
        async with self.offline_caches.lock(north_id):
            if north_id in self.norths:  # Started while this request waited for the lock.
                return await self.worker_request("north", north_id, method, params, timeout_s)
            return await self.offline_caches.run(
                north_id, method, params, timeout_s, logger=log.bind(north_id=north_id)
            )

    def broadcast_trigger(self, scan_mode_id: str) -> None:
        """Fan a cron tick out to every connected worker (each knows which of its items use it)."""
        trigger = Trigger(scan_mode_id=scan_mode_id)
        for worker in self._workers():
            if worker.connected:
                with contextlib.suppress(WorkerGone):
                    worker.send(trigger)
