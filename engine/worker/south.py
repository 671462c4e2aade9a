"""The South runner: scan-mode triggers, back-pressure, and the sink that waits for the engine's ack."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from connectors.base import Item, SouthCache, SouthConnector, TimeValue
from connectors.errors import ConnectorAuthError, ConnectorConnectionError, ConnectorNotReady, ContentRefused
from engine.cache.south import SouthCacheDB
from engine.history.windowing import (
    DEFAULT_MAX_READ_INTERVAL_S,
    DEFAULT_READ_DELAY_MS,
    RecoveryStrategy,
    history_intervals,
    run_history,
)
from engine.ipc import Ack, Content, ItemSpec, Message, Nack, Start
from engine.worker.channel import Channel
from engine.worker.history import HistoryReader
from engine.worker.runner import Runner, convert_settings

SUBSCRIPTION = "subscription"
BACKPRESSURE_WARN_INTERVAL_S = 3600.0


MAX_TEST_VALUES = 10_000
"""Values an item test answers with at most."""


def _instant(text: Any) -> datetime | None:
    """Parse an ISO-8601 instant (``Z`` accepted; no offset means UTC)."""
    if not text:
        return None
    parsed = datetime.fromisoformat(str(text))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def now_iso() -> str:
    """The current instant as upstream writes it (ms precision, ``Z``)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class IpcSink:
    """A ``ValueSink`` whose calls return when the engine acknowledges that every target North stored."""

    def __init__(self, channel: Channel, source_id: str, metrics: dict[str, Any], data_folder: Path) -> None:
        self._channel = channel
        self._source_id = source_id
        self._seq = itertools.count(1)
        self._pending: dict[int, asyncio.Future[None]] = {}
        self._metrics = metrics
        self._encoder = msgspec.json.Encoder()
        # Relative paths are relative to the data folder; the North that opens them runs elsewhere.
        self._data_folder = data_folder

    def on_ack(self, message: Ack | Nack) -> None:
        """Resolve the waiting call."""
        future = self._pending.pop(message.seq, None)
        if future is None or future.done():
            return
        if isinstance(message, Ack):
            future.set_result(None)
        else:
            future.set_exception(ContentRefused(message.reason))

    def fail_all(self, reason: str) -> None:
        """The engine is gone: nothing pending will be acknowledged."""
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ContentRefused(reason))
        self._pending.clear()

    async def _send(self, content_type: str, **fields: Any) -> None:
        """Send one content frame and wait for its ack (``fields``: the other ``Content`` fields)."""
        content = Content(seq=next(self._seq), source_id=self._source_id, content_type=content_type, **fields)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending[content.seq] = future
        self._channel.send(content)
        await self._channel.drain()
        await future

    async def add_values(self, values: list[TimeValue], *, items: list[str] | None = None) -> None:
        """Hand over time-values; returns once stored by every target North."""
        if not values:
            return
        payload = self._encoder.encode(values)
        await self._send("time-values", payload=payload, count=len(values), items=items or [])
        self._metrics["numberOfValuesRetrieved"] += len(values)
        self._metrics["lastValueRetrieved"] = values[-1]

    async def add_file(
        self, path: Path, *, filename: str | None = None, owned: bool = False, items: list[str] | None = None
    ) -> None:
        """Hand over a file; returns once every target North copied it into its cache."""
        name = filename or Path(path).name
        await self._send("any", file_path=str(self._data_folder / path), filename=name, owned=owned, items=items or [])
        self._metrics["numberOfFilesRetrieved"] += 1
        self._metrics["lastFileRetrieved"] = name

    async def add_files(self, files: list[tuple[Path, str]], *, owned: bool = False) -> None:
        """Hand over several files in one frame; returns once every target North stored them all."""
        if not files:
            return
        pairs = [[str(self._data_folder / path), filename] for path, filename in files]
        await self._send("any", files=pairs, owned=owned)
        self._metrics["numberOfFilesRetrieved"] += len(files)
        self._metrics["lastFileRetrieved"] = files[-1][1]

    async def add_content(self, content: str) -> None:
        """Hand over an opaque ``any-content`` payload."""
        await self._send("any-content", payload=content.encode(), count=1)
        self._metrics["numberOfValuesRetrieved"] += 1


MAX_TEST_FILE_CHARS = 500 * 1024
"""How much of a file an item test shows (upstream's 500 KiB)."""


def _file_head(path: Path) -> tuple[str, int]:
    """The first ``MAX_TEST_FILE_CHARS`` bytes of a file as text, and its size (empty if unreadable)."""
    try:
        with path.open("rb") as stream:
            head = stream.read(MAX_TEST_FILE_CHARS)
            return head.decode("utf-8", errors="replace"), path.stat().st_size
    except OSError:
        return "", 0


class CapturingSink:
    """The ``ValueSink`` of an item test: keeps what a read produced, sends nothing anywhere.

    At most ``MAX_TEST_VALUES`` values are kept, so that a test over a long history cannot build an answer
    larger than a frame may be.
    """

    def __init__(self) -> None:
        self.values: list[TimeValue] = []
        self.files: list[tuple[str, str]] = []
        self.contents: list[str] = []
        self.dropped = 0
        self.first_file: tuple[str, int] | None = None
        """The first file's text (its first ``MAX_TEST_FILE_CHARS``) and its whole size, read when it came."""

    async def add_values(self, values: list[TimeValue], *, items: list[str] | None = None) -> None:
        """Keep the values (up to the cap)."""
        room = max(0, MAX_TEST_VALUES - len(self.values))
        self.values.extend(values[:room])
        self.dropped += max(0, len(values) - room)

    async def add_file(
        self, path: Path, *, filename: str | None = None, owned: bool = False, items: list[str] | None = None
    ) -> None:
        """Note the file, and the beginning of the first one (the connector may delete a scratch file after)."""
        self.files.append((str(path), filename or Path(path).name))
        if self.first_file is None:
            self.first_file = await asyncio.to_thread(_file_head, Path(path))

    async def add_files(self, files: list[tuple[Path, str]], *, owned: bool = False) -> None:
        """Note the files."""
        self.files.extend((str(path), filename) for path, filename in files)

    async def add_content(self, content: str) -> None:
        """Keep an ``any-content`` payload."""
        self.contents.append(content)

    def result(self) -> dict[str, Any]:
        """What the read produced, as upstream's ``OIBusContent``: its values, else its first file or content."""
        if self.files and not self.values:
            path, filename = self.files[0]
            text, size = self.first_file or ("", 0)
            return {
                "type": "any",
                "filePath": path,
                "filename": filename,
                "content": text,
                "truncated": size > len(text.encode()),
                "totalSize": size,
            }
        if self.contents and not self.values:
            return {"type": "any-content", "content": self.contents[0]}
        return {"type": "time-values", "content": self.values}


class ScratchCache:
    """The ``SouthCache`` of an item test: reads the stored rows, keeps its own writes in memory only."""

    def __init__(self, stored: SouthCache) -> None:
        self._stored = stored
        self._instants: dict[tuple[str | None, str | None], datetime] = {}
        self._values: dict[tuple[str | None, str | None], Any] = {}

    def get_tracked_instant(self, item_id: str | None, group_id: str | None = None) -> datetime | None:
        """The instant written during the test, else the stored one."""
        key = (item_id, group_id)
        return self._instants[key] if key in self._instants else self._stored.get_tracked_instant(item_id, group_id)

    def set_tracked_instant(self, item_id: str | None, instant: datetime, group_id: str | None = None) -> None:
        """Remember the instant for the rest of the test."""
        self._instants[(item_id, group_id)] = instant

    def get_value(self, item_id: str | None, group_id: str | None = None) -> Any:
        """The value written during the test, else the stored one."""
        key = (item_id, group_id)
        return self._values[key] if key in self._values else self._stored.get_value(item_id, group_id)

    def set_value(self, item_id: str | None, value: Any, group_id: str | None = None) -> None:
        """Remember the value for the rest of the test."""
        self._values[(item_id, group_id)] = value


class SouthRunner(Runner[SouthConnector[Any, Any]]):
    """Runs one South connector."""

    def __init__(self, channel: Channel, start: Start) -> None:
        super().__init__(channel, start)
        self._metrics: dict[str, Any] = {
            "metricsStart": now_iso(),
            "lastConnection": None,
            "lastRunStart": None,
            "lastRunDuration": None,
            "numberOfValuesRetrieved": 0,
            "numberOfFilesRetrieved": 0,
            "lastValueRetrieved": None,
            "lastFileRetrieved": None,
        }
        self.sink = IpcSink(channel, self.connector_id, self._metrics, self.data_dir)
        self._cache_db = SouthCacheDB(self.data_dir / "cache" / "cache.db", logger=self.logger)
        self._cache = self._cache_db.for_south(self.connector_id)
        self._items: list[Item[Any]] = []
        self._item_specs: dict[str, ItemSpec] = {}
        self._running: set[str] = set()
        self._last_backpressure_warning: dict[str, float] = {}
        self._login_refused = False
        """The last run's login was refused (logged once; a run that succeeds logs the recovery)."""
        self._parallel = asyncio.Semaphore(1)
        self._stop_event = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        history = self.spec.history
        self._history_reader = (
            HistoryReader(history, self._cache, self._history_progress, self.logger)
            if history is not None and not history.test
            else None
        )
        """Set in history mode (a history query's South): its range is read once, no scan mode triggers it."""

    def metrics(self) -> dict[str, Any]:
        """South metrics as upstream names them."""
        return dict(self._metrics)

    def _load_items(self) -> None:
        manifest = self.manifest
        items: list[Item[Any]] = []
        for index, spec in enumerate(self.spec.items):
            settings = (
                convert_settings(spec.settings or {}, manifest.item_settings, f"items[{index}].settings")
                if manifest.item_settings is not None
                else spec.settings
            )
            items.append(
                Item(
                    id=spec.id,
                    name=spec.name,
                    enabled=spec.enabled,
                    settings=settings,
                    scan_mode_id=spec.scan_mode_id,
                    group_id=spec.group_id,
                )
            )
        self._items = items
        self._item_specs = {spec.id: spec for spec in self.spec.items}
        parallel = getattr(self.connector.settings if self.connector else None, "max_parallel_run", 1)
        self._parallel = asyncio.Semaphore(max(1, int(parallel or 1)))

    def _items_for(self, scan_mode_id: str) -> list[Item[Any]]:
        # ``scanModeId`` is the effective one: the group's for an item in a group.
        return [item for item in self._items if item.enabled and item.scan_mode_id == scan_mode_id]

    async def start_connector(self) -> None:
        """Build the connector from the DTO and start it."""
        settings = self.settings()
        folder = (
            f"history-{self.connector_id}/south" if self._history_reader is not None else f"south-{self.connector_id}"
        )
        base = self.data_dir / "cache" / folder
        (base / "tmp").mkdir(parents=True, exist_ok=True)
        connector: SouthConnector[Any, Any] = self.connector_cls(settings, self.context(base), self.sink, self._cache)
        self.connector = connector
        self._load_items()
        await connector.start()
        self._metrics["lastConnection"] = now_iso()
        if self.manifest.modes.subscription:
            subscribed = self._items_for(SUBSCRIPTION)
            if subscribed:
                await connector.subscribe(subscribed)

    def scratch_connector(self, settings: Any, base_folder: Path) -> SouthConnector[Any, Any]:
        """A connector instance for a test: a recording sink, and a cache that writes nothing."""
        connector: SouthConnector[Any, Any] = self.connector_cls(
            settings,
            self.scratch_context(base_folder),
            CapturingSink(),
            ScratchCache(self._cache),
        )
        return connector

    async def on_request(self, method: str, params: dict[str, Any]) -> Any:
        """Item tests, then the common requests."""
        if method == "test_item":
            return await self.test_item(params)
        if method == "browse":
            return await self.browse(params)
        return await super().on_request(method, params)

    async def browse(self, params: dict[str, Any]) -> dict[str, Any]:
        """One page of a node's children: ``node``, ``cursor``, ``size``; ``settings`` for an unsaved configuration.

        With ``settings``, an instance built for the call opens its own session; without, the running connector's
        session is used when it is open (else the running connector opens one for the call).
        """
        if not self.manifest.browse:
            raise ValueError(f"a {self.manifest.name} South cannot browse its source")
        node, cursor, size = params.get("node"), params.get("cursor"), int(params.get("size") or 100)
        raw = params.get("settings")
        if raw is None and self.connector is not None and self.started.is_set():
            page: dict[str, Any] = await self.connector.browse(node, cursor, size)  # type: ignore[attr-defined]
            return page
        settings = self.settings(raw)
        async with self.scratch_folder() as folder:
            page = await self.scratch_connector(settings, folder).browse(node, cursor, size)  # type: ignore[attr-defined]
        return page

    async def test_item(self, params: dict[str, Any]) -> dict[str, Any]:
        """Read one item once on an instance built for the test and return what it produced.

        ``params``: ``item`` (``id`` of a stored item or none, ``name``, ``settings``), ``settings`` (the South's;
        default: the running ones) and ``startTime``/``endTime`` (ISO-8601; default: the last hour) for a
        history read. Nothing reaches a North, and the South cache is read but not written.
        """
        settings = self.settings(params.get("settings"))
        described = params["item"]
        item_settings = (
            convert_settings(described.get("settings") or {}, self.manifest.item_settings, "itemSettings")
            if self.manifest.item_settings is not None
            else described.get("settings")
        )
        item = Item(
            id=described.get("id") or "test",
            name=described.get("name") or "test",
            enabled=True,
            settings=item_settings,
        )
        end = _instant(params.get("endTime")) or datetime.now(UTC)
        start = _instant(params.get("startTime")) or end - timedelta(seconds=DEFAULT_MAX_READ_INTERVAL_S)
        async with self.scratch_folder() as folder:
            connector = self.scratch_connector(settings, folder)
            await connector.test_item(item, start, end)
        sink = connector.sink
        assert isinstance(sink, CapturingSink)
        if sink.dropped:
            self.logger.warning("item test values truncated", kept=len(sink.values), dropped=sink.dropped)
        return sink.result()

    async def run(self) -> None:
        """Start the connector (retrying), until the stop."""
        async with asyncio.TaskGroup() as group:
            starter = group.create_task(self.start_with_backoff(), name=f"{self.connector_id}:start")
            if self._history_reader is not None:
                reading = asyncio.create_task(
                    self._read_history(self._history_reader), name=f"{self.connector_id}:history"
                )
                self._tasks.add(reading)
                reading.add_done_callback(self._tasks.discard)
            await self._stop_event.wait()
            starter.cancel()

    async def _read_history(self, reader: HistoryReader) -> None:
        """History mode: once the connector runs, read the whole range (then the engine stops this worker)."""
        await self.started.wait()
        await reader.run(lambda: self.connector, self._items)

    def _history_progress(self, progress: dict[str, Any]) -> None:
        self._metrics["historyMetrics"] = dict(progress)
        self.send_metrics()

    def on_trigger(self, scan_mode_id: str) -> None:
        """Run the items of ``scan_mode_id``, unless their previous run is still going."""
        if (
            self.connector is None
            or not self.started.is_set()
            or scan_mode_id == SUBSCRIPTION
            or self._history_reader is not None
        ):
            return
        items = self._items_for(scan_mode_id)
        if not items:
            return
        if scan_mode_id in self._running:
            now = time.monotonic()
            last = self._last_backpressure_warning.get(scan_mode_id, -BACKPRESSURE_WARN_INTERVAL_S)
            if now - last >= BACKPRESSURE_WARN_INTERVAL_S:
                self._last_backpressure_warning[scan_mode_id] = now
                self.logger.warning("previous run still in progress, skipping this one", scanModeId=scan_mode_id)
            return
        self._running.add(scan_mode_id)
        task = asyncio.create_task(self._run_items(scan_mode_id, items), name=f"{self.connector_id}:run")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # The mark ends with the task, not with its code: a task cancelled before it ever ran (a reconnection or a
        # reconfiguration stops the runs just triggered) runs no ``finally``, and a mark left behind would skip
        # every later scan of the mode, silently (the skip is warned once an hour).
        task.add_done_callback(lambda _task: self._running.discard(scan_mode_id))

    async def _run_items(self, scan_mode_id: str, items: list[Item[Any]]) -> None:
        connector = self.connector
        assert connector is not None
        try:
            async with self._parallel:
                started = time.monotonic()
                self._metrics["lastRunStart"] = now_iso()
                if self.manifest.modes.last_file:
                    await connector.last_file(items)
                else:
                    if self.manifest.modes.last_point:
                        await connector.last_point(items)
                    # History items after the current values (upstream's order), each with its own window.
                    for item in connector.history_items(items):
                        await self._history(connector, item)
                self._metrics["lastRunDuration"] = round((time.monotonic() - started) * 1000)
            if self._login_refused:
                self._login_refused = False
                self.logger.info("login accepted by the source again")
        except ContentRefused as err:
            self.logger.warning("content refused by the engine; will retry at the next run", reason=str(err))
        except ConnectorAuthError as err:
            # The peer answered and refused the credentials: reconnecting now would only be refused again
            # (and may lock the account), so the next try is the next scan; logged once until a run succeeds.
            if not self._login_refused:
                self.logger.error("login refused by the source; will retry at the next run", error=str(err))
            self._login_refused = True
        except (ConnectorConnectionError, ConnectorNotReady) as err:
            self.connection_lost(str(err) or type(err).__name__)
        except Exception as err:
            self.logger.error("run failed", error=str(err), errorType=type(err).__name__)
        finally:
            self.send_metrics()

    async def _history(self, connector: SouthConnector[Any, Any], item: Item[Any]) -> None:
        """Read the last ``maxReadInterval`` of ``item`` from its tracked instant, interval by interval."""
        spec = self._item_specs.get(item.id) or ItemSpec(id=item.id, name=item.name)
        cache = self._cache
        tracked = cache.get_tracked_instant(item.id)
        max_read_interval = spec.max_read_interval or DEFAULT_MAX_READ_INTERVAL_S
        strategy: RecoveryStrategy = spec.recovery_strategy or "oldest"
        read_delay = spec.read_delay
        now = datetime.now(UTC)
        intervals = history_intervals(
            now - timedelta(seconds=max_read_interval),
            now,
            tracked_instant=tracked,
            start_time_offset_ms=spec.start_time_offset or 0,
            end_time_offset_ms=spec.end_time_offset or 0,
            max_read_interval_s=max_read_interval,
            strategy=strategy,
        )
        await run_history(
            lambda start, end: connector.history_query([item], start, end),
            intervals,
            DEFAULT_READ_DELAY_MS if read_delay is None else read_delay,
            lambda instant: cache.set_tracked_instant(item.id, instant),
            strategy,
            tracked_instant=tracked,
        )

    async def on_message(self, message: Message) -> None:
        """Acks and nacks of content we handed over."""
        if isinstance(message, Ack | Nack):
            self.sink.on_ack(message)

    async def stop_connector(self) -> None:
        """End the runs in progress (their data stays at the source), then stop the connector."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await super().stop_connector()

    async def stop(self) -> None:
        """Stop the connector (a history read first delivers its window in progress), then let ``run`` return."""
        if self._history_reader is not None:
            await self._history_reader.stop()
        await super().stop()
        await self.stop_connector()
        self.sink.fail_all("worker stopping")
        self._cache_db.close()
        self._stop_event.set()
