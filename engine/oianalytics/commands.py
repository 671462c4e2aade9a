"""The command loop: fetch commands from OIAnalytics, store them, execute them one at a time, report their status.

A refresh cycle (only while registered) asks which RETRIEVED commands were cancelled
(``/commands/list-by-ids``), fetches new ones (``/commands/pending``, stored RETRIEVED), then sends every
status OIAnalytics has not confirmed (``PUT /commands/status``, one command per request; 2xx or 404
confirm it). The next cycle comes after ``commandRefreshInterval`` seconds, or ``commandRetryInterval``
when OIAnalytics could not be reached. The executor runs the stored commands oldest first: wrong target
version or missing permission → ERRORED without running; otherwise RUNNING, then COMPLETED with the
handler's result or ERRORED with its error, and the status is sent at once (swept up by the next cycle if
that fails). Nothing here blocks the engine: an unreachable OIAnalytics only delays reports.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec
import structlog

from connectors.common.oianalytics import OIAConnection, OIAHttpError
from connectors.errors import ConnectorError, OIBusError, SettingsError
from engine.oianalytics.models import COMMAND_PERMISSIONS
from engine.oianalytics.repository import CommandRejected, OIAnalyticsRepository, StoredCommand
from engine.oianalytics.util import Reachability, wait_event
from engine.version import engine_version

if TYPE_CHECKING:
    from engine.oianalytics.handlers import CommandContext

log = structlog.get_logger(__name__)

PENDING_ENDPOINT = "/api/oianalytics/oibus/commands/pending"
LIST_BY_IDS_ENDPOINT = "/api/oianalytics/oibus/commands/list-by-ids"
STATUS_ENDPOINT = "/api/oianalytics/oibus/commands/status"
TEST_COMMAND_TIMEOUT_S = 300.0

Handler = Callable[["CommandContext", StoredCommand], Awaitable[str]]
"""Runs one command; returns the ``result`` of a COMPLETED command, raises to make it ERRORED."""


class LeaveRunning(Exception):
    """Raised by a handler whose command ends in another process (an upgrade): it stays RUNNING, OIBus exits."""


def _decode_list(raw: bytes, what: str) -> list[Any]:
    try:
        found = msgspec.json.decode(raw)
    except msgspec.DecodeError as err:
        raise ConnectorError(f"{what}: OIAnalytics answered invalid JSON ({err})") from err
    if not isinstance(found, list):
        raise ConnectorError(f"{what}: OIAnalytics answered {type(found).__name__}, expected a list")
    return found


class CommandLoop:
    """Refresh cycles and the executor (see the module docstring); ``run`` owns both tasks."""

    def __init__(
        self,
        repo: OIAnalyticsRepository,
        handlers: Mapping[str, Handler],
        context: CommandContext,
        connection: Callable[[], OIAConnection | None],
    ) -> None:
        self.repo = repo
        self.handlers = handlers
        self.context = context
        self.connection = connection
        """The registered connection (with its token), or None when not registered."""
        self._refresh = asyncio.Event()
        self._execute = asyncio.Event()
        self._reach = Reachability("commands")
        self._ack_reach = Reachability("command status")
        self.halted = False
        """Set once a command left OIBus about to exit (an upgrade): nothing else is executed."""

    def wake(self) -> None:
        """Run a refresh cycle now (registration changed)."""
        self._refresh.set()

    async def run(self) -> None:
        """Refresh cycles and the executor, until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._refresh_loop(), name="oianalytics:commands:refresh")
            group.create_task(self._executor(), name="oianalytics:commands:executor")

    async def _refresh_loop(self) -> None:
        while True:
            self._refresh.clear()
            registration = self.repo.registration()
            if not registration.registered:
                await self._refresh.wait()
                continue
            try:
                await self.refresh_once()
                delay = registration.command_refresh_interval
            except (ConnectorError, SettingsError) as err:
                self._reach.failed(err)
                delay = registration.command_retry_interval
            await wait_event(self._refresh, delay)

    async def refresh_once(self) -> None:
        """One cycle: cancellations, new commands, pending statuses. Raises when steps 1-2 fail."""
        target = self.connection()
        if target is None:
            return
        retrieved = {command.id for command in self.repo.commands_with_status("RETRIEVED")}
        if retrieved:
            raw = await target.request("GET", LIST_BY_IDS_ENDPOINT, params=[("ids", i) for i in sorted(retrieved)])
            for element in _decode_list(raw, "list-by-ids"):
                command_id = element.get("id") if isinstance(element, dict) else None
                if command_id in retrieved:
                    await asyncio.to_thread(self.repo.set_status, command_id, "CANCELLED")
                    log.info("oianalytics_command_cancelled", command_id=command_id)
        raw = await target.request("GET", PENDING_ENDPOINT)
        self._reach.succeeded()
        for wire in _decode_list(raw, "pending"):
            try:
                command = await asyncio.to_thread(self.repo.store_command, wire)
            except CommandRejected as err:
                log.warning("oianalytics_command_not_stored", error=str(err))
                continue
            log.info("oianalytics_command_retrieved", command_id=command.id, type=command.type)
        for command in self.repo.unacknowledged():
            await self.send_statuses([command])
        self._execute.set()

    async def send_statuses(self, commands: list[StoredCommand]) -> bool:
        """``PUT /commands/status`` with these commands; True when OIAnalytics confirmed them (2xx or 404)."""
        target = self.connection()
        if target is None or not commands:
            return False
        try:
            await target.request("PUT", STATUS_ENDPOINT, json=[command.to_wire() for command in commands])
        except OIAHttpError as err:
            if err.status != 404:
                self._ack_reach.failed(err)
                return False
        except (ConnectorError, SettingsError) as err:
            self._ack_reach.failed(err)
            return False
        self._ack_reach.succeeded()
        for command in commands:
            await asyncio.to_thread(self.repo.acknowledged, command.id, command.updated_at)
        return True

    async def _executor(self) -> None:
        while not self.halted:
            self._execute.clear()
            # A RUNNING update-version is the upgrade this process came from (or is staging): the upgrade report
            # finishes it by what actually runs once the launcher decided, never a second execution here.
            queued = [
                command
                for command in self.repo.commands_with_status("RETRIEVED", "RUNNING")
                if not (command.status == "RUNNING" and command.type == "update-version")
            ]
            if not queued:
                await self._execute.wait()
                continue
            await self.execute(queued[0])
        await asyncio.Event().wait()  # halted: OIBus is exiting

    async def execute(self, command: StoredCommand) -> None:
        """Run one command to COMPLETED or ERRORED and report it."""
        permission = COMMAND_PERMISSIONS.get(command.type)
        registration = self.repo.registration()
        if command.target_version != engine_version():
            error = f"Wrong target version: {command.target_version} for OIBus version {engine_version()}"
            await self._finish(command, error=error)
            return
        if permission is not None and not registration.command_permissions.get(permission, False):
            await self._finish(command, error=f"Command {command.id} of type {command.type} is not authorized")
            return
        handler = self.handlers.get(command.type)
        if handler is None:
            await self._finish(command, error=f"Unknown command type {command.type}")
            return
        await asyncio.to_thread(self.repo.set_status, command.id, "RUNNING")
        log.info("oianalytics_command_running", command_id=command.id, type=command.type)
        try:
            if command.type.startswith("test-"):
                try:
                    result = await asyncio.wait_for(handler(self.context, command), TEST_COMMAND_TIMEOUT_S)
                except TimeoutError:
                    raise ConnectorError(f"{command.type} timed out after {TEST_COMMAND_TIMEOUT_S:g}s") from None
            else:
                result = await handler(self.context, command)
        except LeaveRunning:
            # The command ends in the next process: run nothing more here (it would run this one again).
            self.halted = True
            await self.send_statuses([self.repo.command(command.id)])
            await self._after()
            return
        except (OIBusError, ValueError, LookupError, RuntimeError, OSError, TimeoutError, ConnectionError) as err:
            await self._finish(command, error=str(err) or type(err).__name__)
            return
        except Exception as err:  # A handler bug must fail the command, never the loop.
            log.exception("oianalytics_command_crashed", command_id=command.id, type=command.type)
            await self._finish(command, error=f"{type(err).__name__}: {err}")
            return
        await self._finish(command, result=result)

    async def _finish(self, command: StoredCommand, *, result: str | None = None, error: str | None = None) -> None:
        if error is not None:
            await asyncio.to_thread(self.repo.set_status, command.id, "ERRORED", error)
            log.warning("oianalytics_command_errored", command_id=command.id, type=command.type, error=error)
        else:
            await asyncio.to_thread(self.repo.set_status, command.id, "COMPLETED", result or "", completed=True)
            log.info("oianalytics_command_completed", command_id=command.id, type=command.type)
        await self.send_statuses([self.repo.command(command.id)])
        await self._after()

    async def _after(self) -> None:
        after = self.context.after_command
        if after is not None:
            self.context.after_command = None
            await after()
