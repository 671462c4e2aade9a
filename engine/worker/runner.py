"""What both runners share: building the connector, starting it with backoff, answering requests.

Requests from the engine (``Request`` frames: ping, metrics, connection tests, cache operations...) are
answered concurrently with everything else: a connection test that waits for a slow peer must delay neither
the content frames nor the engine's pings (which would kill a worker that stops answering them).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar

import msgspec

from connectors import registry
from connectors.base import ConnectorContext, NorthConnector, SouthConnector
from connectors.errors import ConnectorFatal, ConnectorNotReady, SettingsError
from connectors.manifest import ConnectorManifest
from engine.ipc import ConnectorSpec, ConnectorState, Message, Metrics, Reconfigure, Reply, Request, Start, Trigger
from engine.worker.channel import Channel, WorkerLogger

START_BACKOFF_INITIAL_S = 1.0
START_BACKOFF_MAX_S = 60.0


def convert_settings(value: Any, struct: type[msgspec.Struct], path: str) -> Any:
    """Validate settings coming from the engine; a failure is fatal for the connector."""
    try:
        return msgspec.convert(value, struct, strict=False)
    except msgspec.ValidationError as err:
        raise SettingsError({path: str(err)}) from err


def decode_connector(value: ConnectorSpec | dict[str, Any]) -> ConnectorSpec:
    """The worker boundary: what ``Start``/``Reconfigure`` carry, typed once; a malformed spec is fatal."""
    if isinstance(value, ConnectorSpec):
        return value
    spec: ConnectorSpec = convert_settings(value, ConnectorSpec, "connector")
    return spec


C = TypeVar("C", bound="SouthConnector[Any, Any] | NorthConnector[Any]")


class Runner(ABC, Generic[C]):
    """Runs one connector inside the worker; the engine's supervisor owns the process around it."""

    def __init__(self, channel: Channel, start: Start) -> None:
        self.channel = channel
        self.spec = decode_connector(start.connector)
        self.data_dir = Path(start.data_dir)
        self.engine_name = start.engine_name
        self.connector_id = self.spec.id
        self.logger = WorkerLogger(
            channel,
            start.log_level,
            scopeType="history-query" if self.spec.history is not None else start.role,
            scopeId=self.connector_id,
            scopeName=self.spec.name,
        )
        self.manifest: ConnectorManifest = registry.manifest(start.role, self.spec.type)
        self.connector_cls = registry.connector_class(start.role, self.spec.type)
        self.connector: C | None = None
        self.started = asyncio.Event()
        self.tasks: asyncio.TaskGroup | None = None
        self._stopping = False
        self._requests: set[asyncio.Task[None]] = set()
        self._reconnect: asyncio.Task[None] | None = None
        self._state: ConnectorState | None = None
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        """How the start loop waits between attempts (a test records the pauses instead of taking them)."""

    def report_state(self, state: str, error: str | None = None, retry_in_s: float | None = None) -> None:
        """Tell the engine the connector's own state (``since`` moves only when the state changes)."""
        now = datetime.now(UTC)
        previous = self._state
        since = previous.since if previous is not None and previous.state == state else _iso(now)
        if error is None and state == "connecting" and previous is not None:
            error = previous.error  # Trying again: the last error still explains why it is not connected.
        next_attempt = _iso(now + timedelta(seconds=retry_in_s)) if retry_in_s is not None else None
        self._state = ConnectorState(state=state, since=since, error=error, next_attempt=next_attempt)
        if self._state != previous:
            self.channel.send(self._state)

    def context(self, base_folder: Path) -> ConnectorContext:
        """The context handed to the connector."""
        return ConnectorContext(
            id=self.connector_id,
            name=self.spec.name,
            logger=self.logger,
            base_folder=base_folder,
            engine_name=self.engine_name,
            extra=dict(self.spec.extra or {}),
            connection_lost=self.connection_lost,
            data_folder=self.data_dir,
        )

    def connection_lost(self, reason: str) -> None:
        """The connector lost its peer: log the gap once, then stop and start it again with backoff.

        Reports arriving while a reconnection is under way (every item of a failing run, say) add nothing.
        """
        if self._stopping or self.connector is None or not self.started.is_set():
            return
        if self._reconnect is not None and not self._reconnect.done():
            return
        self.logger.warning("connection lost, reconnecting", reason=reason)
        self.report_state("retrying", reason, 0.0)
        # Not started from now on, before the restart task first runs: a scan triggered meanwhile would only start
        # a run on the connection being dropped.
        self.started.clear()
        self._reconnect = asyncio.create_task(self._restart(), name=f"{self.connector_id}:reconnect")

    async def _cancel_reconnect(self) -> None:
        if self._reconnect is not None and not self._reconnect.done():
            self._reconnect.cancel()
            await asyncio.gather(self._reconnect, return_exceptions=True)

    async def _restart(self) -> None:
        self.started.clear()
        await self.stop_connector()
        await self.start_with_backoff(warned=True)

    async def start_with_backoff(self, *, warned: bool = False) -> None:
        """Start the connector; retry ``ConnectorNotReady`` with backoff, give up on ``ConnectorFatal``.

        ``warned``: the unavailability was already logged (a lost connection), so only the recovery is.
        """
        delay = START_BACKOFF_INITIAL_S
        if not warned:
            self.report_state("connecting")
        while not self._stopping:
            try:
                await self.start_connector()
            except (ConnectorFatal, SettingsError) as err:
                self.report_state("fatal", str(err) or type(err).__name__)
                raise
            except (ConnectorNotReady, OSError, Exception) as err:
                asked = err.retry_after_s if isinstance(err, ConnectorNotReady) else None
                pause = asked if asked is not None else delay * random.uniform(0.8, 1.2)
                if not warned:
                    self.logger.warning("connector not ready, retrying", error=str(err), delay_s=round(pause, 3))
                    warned = True
                self.report_state("retrying", str(err) or type(err).__name__, pause)
                await self.sleep(pause)
                if asked is None:
                    delay = min(delay * 2, START_BACKOFF_MAX_S)
                continue
            if warned:
                self.logger.info("connector started after retries")
            else:
                self.logger.info("connector started")
            self.report_state("connected")
            self.started.set()
            return

    async def handle(self, message: Message) -> None:
        """Dispatch one frame from the engine (a request is answered by its own task, see the module doc)."""
        if isinstance(message, Request):
            if self._stopping:
                self.channel.send(Reply(id=message.id, ok=False, error="worker stopping"))
                return
            task = asyncio.create_task(self._answer(message), name=f"{self.connector_id}:request:{message.method}")
            self._requests.add(task)
            task.add_done_callback(self._requests.discard)
        elif isinstance(message, Trigger):
            self.on_trigger(message.scan_mode_id)
        elif isinstance(message, Reconfigure):
            self.spec = decode_connector(message.connector)
            await self.reconfigure()
        else:
            await self.on_message(message)

    async def _answer(self, request: Request) -> None:
        try:
            result = await self.on_request(request.method, request.params)
        except Exception as err:
            self.channel.send(Reply(id=request.id, ok=False, error=str(err) or type(err).__name__))
        else:
            self.channel.send(Reply(id=request.id, ok=True, result=result))

    async def on_request(self, method: str, params: dict[str, Any]) -> Any:
        """Answer a request; subclasses extend it."""
        if method == "ping":
            return "pong"
        if method == "metrics":
            return self.metrics()
        if method == "test_connection":
            await self.test_connection(params.get("settings"))
            return "ok"
        raise ValueError(f"unknown request {method!r}")

    async def test_connection(self, raw_settings: dict[str, Any] | None) -> None:
        """Test a connection with ``raw_settings`` (default: the running ones) on an instance built for the test.

        The running connector is left alone: the test neither waits for it to be started (the answer then says
        why it cannot start) nor shares its connection. Raises the connector's error.
        """
        settings = self.settings(raw_settings)
        async with self.scratch_folder() as folder:
            await self.scratch_connector(settings, folder).test_connection()

    @contextlib.asynccontextmanager
    async def scratch_folder(self) -> AsyncIterator[Path]:
        """A private folder for an instance built for a test (its ``base_folder``), deleted afterwards."""
        prefix = f"oibus-test-{self.connector_id}-"
        folder = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix=prefix))
        try:
            yield folder
        finally:
            await asyncio.to_thread(shutil.rmtree, folder, True)

    def scratch_context(self, base_folder: Path) -> ConnectorContext:
        """The context of an instance built for a test: its own folder, and silent (upstream's test logger)."""
        return ConnectorContext(
            id=self.connector_id,
            name=self.spec.name,
            logger=WorkerLogger(self.channel, "silent"),
            base_folder=base_folder,
            engine_name=self.engine_name,
            extra=dict(self.spec.extra or {}),
            data_folder=self.data_dir,
        )

    def settings(self, raw: dict[str, Any] | None = None) -> Any:
        """The connector's settings typed by its manifest: ``raw`` (an unsaved configuration), else the spec's."""
        chosen = raw if raw is not None else self.spec.settings or {}
        return convert_settings(chosen, self.manifest.settings, "settings")

    @abstractmethod
    def scratch_connector(self, settings: Any, base_folder: Path) -> C:
        """Build (not start) a connector instance for a test, apart from the running one."""

    def send_metrics(self) -> None:
        """Push the current metrics to the engine."""
        self.channel.send(Metrics(values=self.metrics()))

    @abstractmethod
    def metrics(self) -> dict[str, Any]:
        """Current metrics of the connector."""

    @abstractmethod
    async def run(self) -> None:
        """Start the connector and serve until ``stop``."""

    @abstractmethod
    async def start_connector(self) -> None:
        """Build and start the connector once."""

    @abstractmethod
    def on_trigger(self, scan_mode_id: str) -> None:
        """A scan mode fired."""

    @abstractmethod
    async def on_message(self, message: Message) -> None:
        """Content, stored/ack frames... depending on the role."""

    async def reconfigure(self) -> None:
        """Apply ``self.spec``: restart the connector with the new settings and items."""
        await self._cancel_reconnect()
        await self.stop_connector()
        self.started.clear()
        await self.start_with_backoff()

    async def stop_connector(self) -> None:
        """Stop the connector if it runs; a failing stop is logged and stopping goes on."""
        if self.connector is not None:
            try:
                await self.connector.stop()
            except Exception as err:  # stopping must go on
                self.logger.error("connector stop failed", error=str(err))
            self.connector = None

    async def stop(self) -> None:
        """Stop answering requests (those in progress are cancelled), then the subclass stops and flushes."""
        self._stopping = True
        await self._cancel_reconnect()
        for task in list(self._requests):
            task.cancel()
        if self._requests:
            await asyncio.gather(*self._requests, return_exceptions=True)


def _iso(instant: datetime) -> str:
    """An instant as upstream writes it (ms precision, ``Z``)."""
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")
