"""The OIAnalytics agent: registration, command loop, message queue, log forwarding, upgrade reporting.

It lives in the engine process beside the API and never blocks it: every exchange with OIAnalytics runs in
its own task, and an unreachable OIAnalytics only delays commands, statuses, messages and logs (each is
kept and sent again). The OIAnalytics connectors get the registration through their DTO's ``extra``
(``connector_extra``), and are reconciled whenever the registration changes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import structlog

from connectors.common.oianalytics import EXTRA_KEY, OIAConnection
from engine.config.store import ConfigStore
from engine.info import EngineInfo
from engine.logs.pipeline import LogPipeline
from engine.logs.records import DEBUG, ERROR, INFO, TRACE, WARN, LogRecord
from engine.oianalytics.cipher import KEY_SIZE
from engine.oianalytics.commands import CommandLoop
from engine.oianalytics.handlers import HANDLERS, AgentRuntime, CommandContext, StageUpgrade
from engine.oianalytics.messages import FULL_CONFIG, HISTORY_QUERIES, MessageQueue, full_config, history_queries
from engine.oianalytics.registration import CHECK_INTERVAL_S, RegistrationService, connection, user_agent
from engine.oianalytics.repository import OIAnalyticsRepository
from engine.oianalytics.util import Reachability
from engine.version import engine_version

log = structlog.get_logger(__name__)

LOGS_ENDPOINT = "/api/oianalytics/oibus/logs"
PRUNE_INTERVAL_S = 3600.0
UPGRADE_VERDICT_POLL_S = 1.0
_LEVELS = {TRACE: "TRACE", DEBUG: "DEBUG", INFO: "INFO", WARN: "WARN", ERROR: "ERROR"}
_SCOPES = {"south": "SOUTH", "north": "NORTH", "history-query": "HISTORY_QUERY", "internal": "INTERNAL"}


class UpgradeOutcome(Protocol):
    """``engine.upgrade.UpgradeOutcome``: what the launcher did with a staged upgrade (read-only)."""

    @property
    def from_version(self) -> str:
        """The version that staged the upgrade."""

    @property
    def to_version(self) -> str:
        """The version of the package."""

    @property
    def status(self) -> str:
        """``completed``, ``rolled-back`` or ``refused``."""

    @property
    def reason(self) -> str | None:
        """Why, in words."""

    @property
    def command_id(self) -> str | None:
        """The command that staged it."""


ReadOutcome = Callable[[Path], UpgradeOutcome | None]


def log_dto(record: LogRecord) -> dict[str, Any]:
    """One record as ``POST /logs`` carries it (upstream's keys and order; a fatal record has no level)."""
    dto: dict[str, Any] = {"timestamp": record.timestamp}
    level = _LEVELS.get(record.level)
    if level is not None:
        dto["level"] = level
    dto.update(
        scopeType=_SCOPES.get(record.scope_type, "INTERNAL"),
        scopeId=record.scope_id,
        scopeName=record.scope_name,
        itemId=record.item_id,
        itemName=record.item_name,
        groupId=record.group_id,
        groupName=record.group_name,
        message=record.message,
    )
    return dto


class OIAnalyticsAgent:
    """See the module docstring. Construct, then ``await run()`` inside the engine's task group."""

    def __init__(
        self,
        data_dir: Path,
        store: ConfigStore,
        runtime: AgentRuntime,
        info: EngineInfo,
        *,
        request_exit: Callable[[], Awaitable[None]],
        logs: LogPipeline | None = None,
        key_size: int = KEY_SIZE,
        check_interval_s: float = CHECK_INTERVAL_S,
        stage_upgrade: StageUpgrade | None = None,
        upgrade_outcome: ReadOutcome | None = None,
        upgrade_on_trial: Callable[[], bool] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.store = store
        self.runtime = runtime
        self.info = info
        self.logs = logs
        self.repo = OIAnalyticsRepository(data_dir, store.engine_id)
        self.registration = RegistrationService(
            self.repo,
            engine_id=store.engine_id,
            engine_name=lambda: store.engine_settings_dto().general.name,
            on_change=self._registration_changed,
            key_size=key_size,
            check_interval_s=check_interval_s,
        )
        self.context = CommandContext(
            repo=self.repo,
            store=store,
            runtime=runtime,
            registration=self.registration,
            data_dir=data_dir,
            connection=self.connection,
            config_changed=self.config_changed,
            request_exit=request_exit,
            ignore_remote_update=info.ignore_remote_update,
            launcher_version=info.launcher_version,
            key_size=key_size,
            stage_upgrade=stage_upgrade,
            history=getattr(runtime, "history", None),  # the Engine's; a bare runtime has none
            history_changed=self.history_changed,
        )
        self.commands = CommandLoop(self.repo, HANDLERS, self.context, self.connection)
        self.messages = MessageQueue(self.repo, self._build_message, self.connection)
        self._upgrade_outcome = upgrade_outcome
        self._upgrade_on_trial = upgrade_on_trial
        self._verdict: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reconcile: asyncio.Task[None] | None = None
        self._logs_reach = Reachability("logs")

    def close(self) -> None:
        """Unplug the log sender and close the repository."""
        if self.logs is not None:
            self.logs.set_oianalytics(None)
        self.repo.close()

    # --- What other parts of the engine call ------------------------------------------------------------

    def connection(self) -> OIAConnection | None:
        """The registered connection (Bearer token, gateway, proxy, TLS), or None when not registered."""
        registration = self.repo.registration()
        return connection(registration, token=registration.token) if registration.registered else None

    def connector_extra(self, kind: str, dto: dict[str, Any]) -> dict[str, Any] | None:
        """What an ``oianalytics`` connector's worker gets in ``ConnectorContext.extra``."""
        if dto.get("type") != "oianalytics":
            return None
        registration = self.repo.registration()
        gateway = (registration.api_gateway_base_endpoint or "") if registration.use_api_gateway else ""
        registered = self.connection()
        return {
            EXTRA_KEY: {
                "userAgent": user_agent(),
                "gatewayPrefix": gateway,
                "registration": registered.to_wire() if registered is not None else None,
            }
        }

    def config_changed(self) -> None:
        """The configuration changed: OIAnalytics gets a new full-config message."""
        self.messages.queue(FULL_CONFIG)

    def history_changed(self) -> None:
        """A history query changed (or finished): OIAnalytics gets a new history-queries message."""
        self.messages.queue(HISTORY_QUERIES)

    # --- Running ------------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Report a finished upgrade, then run every loop until cancelled."""
        self._loop = asyncio.get_running_loop()
        await self.report_upgrade_outcome()
        self._plug_logs()
        self.messages.queue(FULL_CONFIG)
        self.messages.queue(HISTORY_QUERIES)
        try:
            async with asyncio.TaskGroup() as group:
                for name, loop in (
                    ("registration-check", self.registration.run_check_loop),
                    ("commands", self.commands.run),
                    ("messages", self.messages.run),
                    ("prune", self._prune_loop),
                ):
                    group.create_task(_supervised(name, loop), name=f"oianalytics:{name}")
        finally:
            if self._verdict is not None:
                self._verdict.cancel()
            if self.logs is not None:
                self.logs.set_oianalytics(None)

    def _registration_changed(self) -> None:
        """Upstream's registration 'updated' event: refresh commands, send the configuration, replug logs."""
        self.commands.wake()
        self.messages.queue(FULL_CONFIG)
        self.messages.queue(HISTORY_QUERIES)
        self._plug_logs()
        if self._loop is not None and (self._reconcile is None or self._reconcile.done()):
            self._reconcile = self._loop.create_task(self._reconcile_connectors(), name="oianalytics:reconcile")

    async def _reconcile_connectors(self) -> None:
        """Restart the ``oianalytics`` connectors: their registration (token, gateway) changed."""
        souths = await asyncio.to_thread(self.store.souths.list_souths)
        norths = await asyncio.to_thread(self.store.norths.list_norths)
        for south in souths:
            if south.type == "oianalytics":
                await self.runtime.reconcile_south(south.id)
        for north in norths:
            if north.type == "oianalytics":
                await self.runtime.reconcile_north(north.id)

    async def _prune_loop(self) -> None:
        while True:
            removed = await asyncio.to_thread(self.repo.prune)
            if removed:
                log.info("oianalytics_history_pruned", removed=removed)
            await asyncio.sleep(PRUNE_INTERVAL_S)

    def _build_message(self, message_type: str) -> dict[str, Any]:
        if message_type == FULL_CONFIG:
            return full_config(self.store, self.repo, self.info)
        return history_queries(self.store)

    # --- Upgrade outcome ----------------------------------------------------------------------------------

    def _read_outcome(self) -> UpgradeOutcome | None:
        read = self._upgrade_outcome
        if read is None:
            try:
                from engine.upgrade import upgrade_outcome  # type: ignore[import-not-found, unused-ignore]
            except ImportError:
                return None
            read = upgrade_outcome
        found: UpgradeOutcome | None = read(self.data_dir)
        return found

    def _on_trial(self) -> bool:
        if self._upgrade_on_trial is not None:
            return self._upgrade_on_trial()
        from engine.upgrade import upgrade_on_trial

        return upgrade_on_trial()

    async def _report_after_trial(self) -> None:
        # The verdict is a file another process writes: poll it (an event cannot be shared with the launcher).
        on_trial = True
        while on_trial:
            await asyncio.sleep(UPGRADE_VERDICT_POLL_S)
            on_trial = await asyncio.to_thread(self._on_trial)
        await self.report_upgrade_outcome()

    async def report_upgrade_outcome(self) -> None:
        """Finish a RUNNING ``update-version`` by what actually runs now (reported at the next cycle)."""
        outcome = await asyncio.to_thread(self._read_outcome)
        if outcome is None and await asyncio.to_thread(self._on_trial):
            # The launcher keeps a new version only once it stayed up for its stability window, and says so
            # then: report the command after that verdict, not before.
            if self._loop is not None and (self._verdict is None or self._verdict.done()):
                self._verdict = self._loop.create_task(self._report_after_trial(), name="oianalytics:upgrade")
            return
        running = [c for c in self.repo.commands_with_status("RUNNING") if c.type == "update-version"]
        for command in running:
            wanted = str((command.content or {}).get("version") or "").removeprefix("v")
            if outcome is None or (outcome.command_id not in (None, command.id)):
                error = f"OIBus restarted without applying the upgrade; running version {engine_version()}"
                await asyncio.to_thread(self.repo.set_status, command.id, "ERRORED", error)
            elif outcome.status == "completed" and engine_version() in (wanted, outcome.to_version):
                result = (
                    f"OIBus updated to version {engine_version()}, launcher updated to version "
                    f"{self.info.launcher_version or engine_version()}"
                )
                await asyncio.to_thread(self.repo.set_status, command.id, "COMPLETED", result, completed=True)
            else:
                reason = outcome.reason or outcome.status
                error = f"OIBus has not been updated ({outcome.status}: {reason}); running version {engine_version()}"
                await asyncio.to_thread(self.repo.set_status, command.id, "ERRORED", error)
            log.info("oianalytics_upgrade_reported", command_id=command.id, status=outcome and outcome.status)

    # --- Logs ---------------------------------------------------------------------------------------------

    def _plug_logs(self) -> None:
        if self.logs is not None:
            self.logs.set_oianalytics(self.send_logs if self.repo.registration().registered else None)

    def send_logs(self, records: Sequence[LogRecord]) -> None:
        """The pipeline's sender (runs in the sink's thread): post the batch, raise to keep it for later."""
        loop = self._loop
        if loop is None or loop.is_closed():
            raise ConnectionError("the OIAnalytics agent is not running")
        future = asyncio.run_coroutine_threadsafe(self._post_logs([log_dto(record) for record in records]), loop)
        try:
            future.result(40)
        except BaseException:
            future.cancel()
            raise

    async def _post_logs(self, batch: list[dict[str, Any]]) -> None:
        target = self.connection()
        if target is None:
            return  # unregistered meanwhile: nobody to send them to
        try:
            await target.request("POST", LOGS_ENDPOINT, json=batch)
        except Exception as err:
            self._logs_reach.failed(err)
            raise
        self._logs_reach.succeeded()


RESTART_DELAY_S = 5.0


async def _supervised(name: str, loop: Callable[[], Awaitable[None]]) -> None:
    """Run one of the agent's loops forever: a bug in it is logged and the loop starts again, the engine goes on."""
    while True:
        try:
            await loop()
        except Exception:
            log.exception("oianalytics_loop_crashed", loop=name, restart_in_s=RESTART_DELAY_S)
        await asyncio.sleep(RESTART_DELAY_S)


async def stop_agent(task: asyncio.Task[None] | None) -> None:
    """Cancel the agent's task and wait for it."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
