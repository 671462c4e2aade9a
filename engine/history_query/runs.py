"""The engine's side of history queries: one South worker (history mode) and one North worker per running query.

Both are ordinary supervised workers (``engine.supervisor.worker.Worker``); the South's content goes to the
query's own North only, through the query's ``northTransformers`` as a North's rules route a South's content
(``engine.routing.fanout``), under the same durability contract as connectors (``engine.routing.delivery``):
the South is acknowledged once the North stored it, or a rule ``ignore`` dropped it. A query is FINISHED when
its South read the whole range and its North's cache is empty (checked every ``FINISH_INTERVAL_S``, as
upstream; once the South is done, the North is asked to send its whole cache whatever its trigger says);
ERRORED when one of its workers cannot run with its settings or its source rejects a read. A RUNNING query
is started again when the engine starts, and resumes from its tracked instants.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import structlog

from connectors import registry
from engine.cache.north.operations import DRAIN_METHOD, OfflineCaches
from engine.cache.north.types import FOLDERS
from engine.cache.south import SouthCacheDB
from engine.ipc import Content, Message, Metrics, Refused, Start, Stored
from engine.logs.records import SECRET_MARK, is_secret
from engine.routing.delivery import STORE_TIMEOUT_S, Deliveries, NorthSlot
from engine.routing.fanout import CustomRunner, Fanout
from engine.routing.router import NorthRoute
from engine.states import WorkerState
from engine.supervisor.worker import Knobs, Worker, WorkerGone

log = structlog.get_logger(__name__)

TEST_START_S = 20.0
"""How long a test waits for the worker built for it to be ready."""

FINISH_INTERVAL_S = 1.0
"""How often a running query checks whether it is done (South finished, North cache empty)."""


class HistorySource(Protocol):
    """What the runs read and write in the store (``engine.config_source.StoreConfigSource`` has it)."""

    def engine_name(self) -> str:
        """The engine name."""
        ...

    def worker_log_level(self) -> str:
        """The most verbose level any log sink wants."""
        ...

    def history_ids(self) -> list[str]:
        """Every history query id."""
        ...

    def history_query(self, history_id: str) -> dict[str, Any] | None:
        """One history query (secrets decrypted, camelCase), or None."""
        ...

    def set_history_status(self, history_id: str, status: str, error: str | None = None) -> None:
        """Persist a status the runtime decided (FINISHED, ERRORED with its ``error``)."""
        ...


def worker_dto(query: dict[str, Any], role: str, *, test: bool = False) -> dict[str, Any]:
    """The connector DTO a query's worker of ``role`` runs (its ``history`` key sets history mode).

    ``test``: a worker built to run a test only (its South reads nothing by itself).
    """
    time_range = query["queryTimeRange"]
    history = {
        "test": test,
        "startTime": time_range["startTime"],
        "endTime": time_range["endTime"],
        "maxReadInterval": time_range["maxReadInterval"],
        "readDelay": time_range["readDelay"],
    }
    base = {"id": query["id"], "name": query["name"], "enabled": True, "history": history}
    if role == "south":
        items = [{**item, "scanModeId": None, "groupId": None} for item in query.get("items") or []]
        return {**base, "type": query["southType"], "settings": query["southSettings"], "items": items}
    return {**base, "type": query["northType"], "settings": query["northSettings"], "caching": query["caching"]}


def without_secrets(text: str, query: dict[str, Any] | None) -> str:
    """``text`` with every secret value of the query's South and North settings masked.

    Secrets are the fields whose name says so, as the log pipeline judges them (``engine.logs.records``).
    """
    found: list[str] = []

    def walk(value: Any, secret: bool) -> None:
        if isinstance(value, dict):
            for key, child in value.items():
                walk(child, secret or is_secret(str(key)))
        elif isinstance(value, list):
            for child in value:
                walk(child, secret)
        elif secret and isinstance(value, str) and value:
            found.append(value)

    for key in ("southSettings", "northSettings"):
        walk((query or {}).get(key), False)
    for secret in sorted(found, key=len, reverse=True):
        text = text.replace(secret, SECRET_MARK)
    return text


def north_rules(query: dict[str, Any]) -> list[dict[str, Any]]:
    """The query's ``northTransformers`` as a North's rules for its South (the query's id); no item: all."""
    return [
        {
            "id": rule["id"],
            "transformer": rule["transformer"],
            "options": rule.get("options") or {},
            "source": {
                "type": "south",
                "southId": query["id"],
                "items": [{"id": item["id"]} for item in rule["items"]],
            },
        }
        for rule in query.get("northTransformers") or []
    ]


class HistoryRun:
    """The two workers of one running query, and delivery from the first to the second."""

    def __init__(self, runs: HistoryRuns, query: dict[str, Any]) -> None:
        self.id: str = query["id"]
        self.runs = runs
        scope = {"scopeType": "history-query", "scopeId": self.id, "scopeName": query.get("name") or self.id}
        self.south = Worker(f"south:history-{self.id}", "south", self._start("south"), runs, runs.knobs,
                            cwd=str(runs.data_dir), scope=scope)  # fmt: skip
        north = Worker(f"north:history-{self.id}", "north", self._start("north"), runs, runs.knobs,
                       cwd=str(runs.data_dir), scope=scope)  # fmt: skip
        types = registry.manifest("north", query["northType"]).types
        route = NorthRoute.from_dto({"id": self.id, "transformers": north_rules(query)}, types)
        self.slot: NorthSlot[Worker] = NorthSlot(route=route, worker=north)
        self.deliveries = Deliveries({self.id: self.slot}, store_timeout_s=runs.store_timeout_s)
        self.fanout = Fanout({self.id: self.slot}, self.deliveries, runs.custom)
        self.fanout.set_south_items(self.id, query.get("items") or [])
        self.south_metrics: dict[str, Any] = {}
        self.north_metrics: dict[str, Any] = {}
        self.north_metrics_current = False
        """The North's last metrics came after its last ``Stored``: frames of one worker arrive in order, so only
        then do its queue counts include every entry it stored (older ones may read 0 before the last store)."""
        self._tasks: list[asyncio.Task[None]] = []
        self.gave_up = False
        """The South reported a read its source rejects for good (the query is then ERRORED once)."""

    def _start(self, role: str) -> Callable[[], Start]:
        def build() -> Start:
            query = self.runs.source.history_query(self.id)
            if query is None:
                raise RuntimeError(f"history query {self.id} vanished")
            return Start(
                role=role,
                connector=worker_dto(query, role),
                data_dir=str(self.runs.data_dir),
                engine_name=self.runs.source.engine_name(),
                log_level=self.runs.source.worker_log_level(),
            )

        return build

    @property
    def workers(self) -> tuple[Worker, Worker]:
        """The South worker, then the North worker."""
        return self.south, self.slot.worker

    def start(self, group: asyncio.TaskGroup) -> None:
        """North first (the South's first window needs it), then the South, then the finish check."""
        self.slot.worker.start(group)
        self.south.start(group)
        self._tasks.append(group.create_task(self.deliveries.run_expiry(), name=f"history:{self.id}:expiry"))
        self._tasks.append(group.create_task(self._watch_finish(), name=f"history:{self.id}:finish"))

    async def stop(self) -> None:
        """South first (its window in progress is delivered), then the North (its cache is flushed)."""
        for task in self._tasks:
            task.cancel()
        await self.south.stop()
        await self.fanout.close()
        await self.slot.worker.stop()
        self.deliveries.refuse_outbox(self.slot, "history query stopping")

    @property
    def finished(self) -> bool:
        """The South read the whole range and the North has nothing left to send."""
        north = self.north_metrics
        north_empty = bool(north) and not north.get("numberOfQueuedFiles") and not north.get("numberOfQueuedElements")
        return self.south_done and north_empty and self.north_metrics_current and not self.slot.outbox

    @property
    def south_done(self) -> bool:
        """The South read the whole range, and the North stored every window (the South waits for each ack)."""
        return bool((self.south_metrics.get("historyMetrics") or {}).get("finished"))

    async def _watch_finish(self) -> None:
        while True:
            await asyncio.sleep(FINISH_INTERVAL_S)
            if self.finished:
                self.runs.finished(self.id)
                return
            if self.south_done:
                await self._drain_north()

    async def _drain_north(self) -> None:
        """Have the North send its whole cache: nothing more will come to reach its trigger's thresholds.

        Without it, a query whose caching has no scan mode keeps its last windows in the cache for ever
        when they hold fewer values than ``numberOfElements`` (never sent, never FINISHED). Asked again
        at each check until the run finishes: a North restarted meanwhile forgets the first request.
        """
        north = self.slot.worker
        if not north.connected:
            return
        try:
            await north.request(DRAIN_METHOD, timeout_s=FINISH_INTERVAL_S * 5)
        except (ConnectionError, TimeoutError, RuntimeError) as err:
            log.debug("history north drain not answered", scopeType="history-query", scopeId=self.id, error=str(err))

    def on_message(self, worker: Worker, message: Message) -> None:
        """South content to the North; the North's answers back to the South; metrics kept."""
        if isinstance(message, Content) and worker is self.south:
            self._route(message)
        elif isinstance(message, Stored | Refused):
            self.north_metrics_current = False
            self.deliveries.answered(self.id, message.seq, None if isinstance(message, Stored) else message.reason)
        elif isinstance(message, Metrics):
            if worker is self.south:
                self.south_metrics = message.values
                error = (message.values.get("historyMetrics") or {}).get("error")
                if error and not self.gave_up:
                    self.gave_up = True
                    self.runs.errored(self.id, worker, error)
            else:
                self.north_metrics = message.values
                self.north_metrics_current = True
        else:
            self.runs.relog(worker, message)

    def _route(self, content: Content) -> None:
        self.fanout.route_south(self.south, self.id, content)

    def on_state(self, worker: Worker, state: WorkerState) -> None:
        """A North back to RUNNING gets its outbox again; a FATAL worker makes the query ERRORED."""
        if worker is self.slot.worker and state is WorkerState.RUNNING:
            self.deliveries.resend(self.slot)
        if state is WorkerState.FATAL:
            self.runs.errored(self.id, worker, f"the {worker.role} cannot run with its settings")


class HistoryRuns:
    """Every running history query of the engine (implements the supervisor's ``Listener``)."""

    def __init__(
        self,
        data_dir: Path,
        source: HistorySource,
        knobs: Knobs | None = None,
        safe_mode: bool = False,
        relog: Callable[[Worker, Message], None] | None = None,
        custom: CustomRunner | None = None,
        *,
        store_timeout_s: float = STORE_TIMEOUT_S,
    ) -> None:
        """``relog``: what to do with the workers' other frames (the engine re-logs their ``Log`` records).

        ``custom``: where custom transformer rules run (the engine's sandbox).
        """
        self.custom = custom
        self.data_dir = data_dir
        self.source = source
        self.knobs = knobs or Knobs()
        self.safe_mode = safe_mode
        self.store_timeout_s = store_timeout_s
        self.runs: dict[str, HistoryRun] = {}
        self._by_worker: dict[str, HistoryRun] = {}
        self._group: asyncio.TaskGroup | None = None
        self._lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()
        self.offline_caches = OfflineCaches(data_dir)
        self.status_listeners: list[Callable[[], None]] = []
        """Called after the engine set a status (FINISHED, ERRORED): OIAnalytics gets a new message."""
        self.relog: Callable[[Worker, Message], None] = relog or (lambda worker, message: None)

    async def start(self, group: asyncio.TaskGroup) -> None:
        """Start every RUNNING query again (it resumes from its tracked instants)."""
        self._group = group
        if self.safe_mode:
            return
        for history_id in self.source.history_ids():
            await self.reconcile(history_id)

    async def stop(self) -> None:
        """Stop every run (the status stays RUNNING: the next start resumes them)."""
        async with self._lock:
            runs = list(self.runs.values())
            self.runs.clear()
            self._by_worker.clear()
        await asyncio.gather(*(run.stop() for run in runs))

    def workers(self) -> list[Worker]:
        """Every worker of every run (cron ticks and metrics reach them as any worker)."""
        return [worker for run in self.runs.values() for worker in run.workers]

    async def reconcile(self, history_id: str, *, restart: bool = False) -> None:
        """Start or stop the run of ``history_id`` to match its stored status (``restart``: settings changed)."""
        async with self._lock:
            query = self.source.history_query(history_id)
            run = self.runs.get(history_id)
            wanted = query is not None and query.get("status") == "RUNNING" and not self.safe_mode
            if run is not None and (not wanted or restart):
                await self._drop(run)
                run = None
            if wanted and run is None and query is not None:
                assert self._group is not None, "history runs not started"
                run = HistoryRun(self, query)
                self.runs[history_id] = run
                for worker in run.workers:
                    self._by_worker[worker.key] = run
                # Its cache folder is never open twice: wait for an operation the engine runs on it.
                async with self.offline_caches.lock(history_id):
                    run.start(self._group)

    async def stop_run(self, history_id: str) -> None:
        """Stop the run of ``history_id`` whatever its status (before its cache is reset)."""
        async with self._lock:
            run = self.runs.get(history_id)
            if run is not None:
                await self._drop(run)

    async def _drop(self, run: HistoryRun) -> None:
        self.runs.pop(run.id, None)
        for worker in run.workers:
            self._by_worker.pop(worker.key, None)
        await run.stop()

    def progress(self, history_id: str) -> dict[str, Any]:
        """Upstream's ``HistoryQueryMetrics``: ``{south, north, historyMetrics}`` of a running query, else empty."""
        run = self.runs.get(history_id)
        if run is None:
            return {}
        south = {key: value for key, value in run.south_metrics.items() if key != "historyMetrics"}
        return {
            "metricsStart": south.get("metricsStart"),
            "south": south,
            "north": run.north_metrics,
            "historyMetrics": run.south_metrics.get("historyMetrics") or {},
            "state": {"south": run.south.state.label, "north": run.slot.worker.state.label},
        }

    async def request(
        self, history_id: str, role: str, method: str, params: dict[str, Any], timeout_s: float = 30.0
    ) -> Any:
        """Call ``method`` in the query's worker of ``role``; ``WorkerGone`` when the query is not running."""
        run = self.runs.get(history_id)
        worker = None if run is None else run.workers[0 if role == "south" else 1]
        if worker is None or not worker.connected:
            raise WorkerGone(f"history query {history_id} is not running")
        return await worker.request(method, params, timeout_s=timeout_s)

    async def reset_cache(self, history_id: str) -> None:
        """Forget what the query read and cached (tracked instants, its South and North folders); not running."""
        async with self.offline_caches.lock(history_id):
            await asyncio.to_thread(self._remove_cache, history_id)

    def _remove_cache(self, history_id: str) -> None:
        with SouthCacheDB(self.data_dir / "cache" / "cache.db") as cache:
            cache.delete_south(history_id)
        for folder in FOLDERS:
            shutil.rmtree(self.data_dir / folder / f"history-{history_id}", ignore_errors=True)

    async def cache_request(self, history_id: str, method: str, params: dict[str, Any], timeout_s: float = 60.0) -> Any:
        """A North cache operation on the query's cache: in its North worker, or here when it is not running."""
        if history_id in self.runs:
            return await self.request(history_id, "north", method, params, timeout_s)
        async with self.offline_caches.lock(history_id):
            if history_id in self.runs:  # Started while this request waited for the lock.
                return await self.request(history_id, "north", method, params, timeout_s)
            return await self.offline_caches.run(
                history_id,
                method,
                params,
                timeout_s,
                logger=log.bind(scopeType="history-query", scopeId=history_id),
                folder_name=f"history-{history_id}/north",
            )

    async def test(
        self, query: dict[str, Any], role: str, method: str, params: dict[str, Any], timeout_s: float = 30.0
    ) -> Any:
        """Run a test (``test_connection``, ``test_item``) of the query's South or North.

        A running query's worker runs it; otherwise a worker is started for the test alone, then stopped.
        ``query`` is the query to test (its settings may be the body's, not the stored ones).
        """
        history_id = query["id"]
        if history_id in self.runs:
            return await self.request(history_id, role, method, params, timeout_s)
        assert self._group is not None, "history runs not started"
        start = Start(
            role=role,
            connector=worker_dto(query, role, test=True),
            data_dir=str(self.data_dir),
            engine_name=self.source.engine_name(),
            log_level=self.source.worker_log_level(),
        )
        scope = {"scopeType": "history-query", "scopeId": history_id, "scopeName": query.get("name") or history_id}
        worker = Worker(f"{role}:history-test-{history_id}", role, lambda: start, _TestListener(self), self.knobs,
                        cwd=str(self.data_dir), scope=scope)  # fmt: skip
        async with self.offline_caches.lock(history_id):
            worker.start(self._group)
            try:
                async with asyncio.timeout(TEST_START_S):
                    while not worker.connected:
                        if worker.state is WorkerState.FATAL:
                            raise RuntimeError(f"the {role} cannot run with these settings")
                        await asyncio.sleep(0.05)
                return await worker.request(method, params, timeout_s=timeout_s)
            finally:
                await worker.stop()

    def finished(self, history_id: str) -> None:
        """The run read and delivered everything: FINISHED, and its workers stop."""
        log.info("history query finished", scopeType="history-query", scopeId=history_id)
        self._set_status(history_id, "FINISHED")

    def errored(self, history_id: str, worker: Worker, error: str) -> None:
        """A worker of the run cannot run with its settings, or its source rejects a read: ERRORED, workers stop.

        The reason is stored with the query (the API, the UI and the SSE stream show it, across a restart),
        every secret of its settings masked: a driver may quote a connection string in its message.
        """
        reason = without_secrets(error, self.source.history_query(history_id))
        log.error("history query errored", scopeType="history-query", scopeId=history_id, worker=worker.key,
                  error=reason)  # fmt: skip
        self._set_status(history_id, "ERRORED", reason)

    def _set_status(self, history_id: str, status: str, error: str | None = None) -> None:
        self.source.set_history_status(history_id, status, error)
        for listener in self.status_listeners:
            listener()
        task = asyncio.get_running_loop().create_task(self.reconcile(history_id), name=f"history:{history_id}:stop")
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- Listener -----------------------------------------------------------------------------------------

    def on_message(self, worker: Worker, message: Message) -> None:
        """A frame from one of the runs' workers."""
        run = self._by_worker.get(worker.key)
        if run is not None:
            run.on_message(worker, message)

    def on_state(self, worker: Worker, state: WorkerState) -> None:
        """A state change of one of the runs' workers."""
        run = self._by_worker.get(worker.key)
        if run is not None:
            run.on_state(worker, state)


class _TestListener:
    """Hears a worker started for a test: its log records are kept, the rest is dropped."""

    def __init__(self, runs: HistoryRuns) -> None:
        self._runs = runs

    def on_message(self, worker: Worker, message: Message) -> None:
        """Re-log what the test worker logs."""
        self._runs.relog(worker, message)

    def on_state(self, worker: Worker, state: WorkerState) -> None:
        """Nothing to do."""
