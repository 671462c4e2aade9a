"""What the engine answers about its workers, and what it asks them: state, metrics, requests, cron ticks.

Mixed into ``engine.engine.Engine`` (part of ``engine.runtime.Runtime``), which owns the worker tables.
"""

from __future__ import annotations

import contextlib
from typing import Any

from engine.ipc import Trigger
from engine.routing.delivery import NorthSlot
from engine.states import WorkerState
from engine.supervisor.worker import Worker, WorkerGone


class WorkerQueries:
    """Lookups over ``souths`` (id → worker) and ``norths`` (id → routing slot with its worker)."""

    souths: dict[str, Worker]
    norths: dict[str, NorthSlot[Worker]]
    metrics: dict[str, dict[str, Any]]

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

    def broadcast_trigger(self, scan_mode_id: str) -> None:
        """Fan a cron tick out to every connected worker (each knows which of its items use it)."""
        trigger = Trigger(scan_mode_id=scan_mode_id)
        for worker in self._workers():
            if worker.connected:
                with contextlib.suppress(WorkerGone):
                    worker.send(trigger)
