"""The South and North contracts, and the sink a South writes to.

A connector is constructed with its validated, frozen settings and never sets its own state: it reports
(by returning, or raising ``ConnectorNotReady``/``ConnectorFatal``/``SendError``) and the engine's runner
decides policy (backoff, retries, logging context). Connectors import nothing of the engine.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypedDict, TypeVar

import msgspec

from connectors.errors import ConnectorError
from connectors.manifest import ConnectorManifest


class TimeValue(TypedDict):
    """One value of one point: ``{"pointId", "timestamp" (ISO-8601 UTC), "data": {"value", ...}}``."""

    pointId: str
    timestamp: str
    data: dict[str, Any]


class Logger(Protocol):
    """The structlog-style logger a connector receives (bound to its id and type by the runner)."""

    def debug(self, event: str, /, **fields: Any) -> None:
        """Log a detail useful when investigating."""

    def info(self, event: str, /, **fields: Any) -> None:
        """Log a normal event (started, recovered)."""

    def warning(self, event: str, /, **fields: Any) -> None:
        """Log a problem the connector works around (source unavailable, retrying)."""

    def error(self, event: str, /, **fields: Any) -> None:
        """Log a failure an operator must look at."""


class ValueSink(Protocol):
    """Where a South hands its data over.

    Each call returns once every target North has the data durably in its cache; only then may the South
    forget it (advance a tracked instant, delete a scanned file, ack a broker message). It raises
    ``ContentRefused`` when a target could not store it: keep the data and try again at the next run.
    """

    async def add_values(self, values: list[TimeValue], *, items: list[str] | None = None) -> None:
        """Hand over time-values (``items``: ids of the items they come from, for routing)."""

    async def add_file(
        self, path: Path, *, filename: str | None = None, owned: bool = False, items: list[str] | None = None
    ) -> None:
        """Hand over a file; ``owned`` means a private scratch file nobody will modify.

        ``items``: the ids of the items the file holds the data of (routing rules scoped to items use them).
        """

    async def add_files(self, files: list[tuple[Path, str]], *, owned: bool = False) -> None:
        """Hand over several files (``(path, filename)`` pairs) at once, for far less overhead per file.

        Returns once every target stored all of them; when it raises (``ContentRefused``, or ``OSError``
        for a file that cannot be read), some may have been stored and the others not: keep them all
        (sending one again later is a duplicate, which is allowed) or hand them over one by one.
        """

    async def add_content(self, content: str) -> None:
        """Hand over an opaque ``any-content`` payload."""


class SouthCache(Protocol):
    """Per-item (or per-group) persistent state of a South: tracked instants and last values."""

    def get_tracked_instant(self, item_id: str | None, group_id: str | None = None) -> datetime | None:
        """The newest instant already read for the item (or synced group)."""

    def set_tracked_instant(self, item_id: str | None, instant: datetime, group_id: str | None = None) -> None:
        """Persist the newest instant read (only after the data was acknowledged)."""

    def get_value(self, item_id: str | None, group_id: str | None = None) -> Any:
        """The item's stored value (e.g. the preserved-files list of a folder scanner)."""

    def set_value(self, item_id: str | None, value: Any, group_id: str | None = None) -> None:
        """Persist the item's value."""


S = TypeVar("S", bound=msgspec.Struct)
I = TypeVar("I", bound=msgspec.Struct)  # noqa: E741


@dataclass(frozen=True, slots=True)
class Item(Generic[I]):
    """One South item with its validated settings."""

    id: str
    name: str
    enabled: bool
    settings: I
    scan_mode_id: str | None = None
    group_id: str | None = None


def resolve_in(data_folder: Path, path: str | Path) -> Path:
    """``path`` with ``~`` expanded; a relative one is relative to ``data_folder`` (as upstream, which runs there)."""
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else data_folder / candidate


def _ignore_lost(reason: str) -> None:
    """Default ``connection_lost`` of a context built outside a runner (tests, instances built for a test)."""


@dataclass(slots=True)
class ConnectorContext:
    """What the runner gives a connector besides its settings.

    ``connection_lost(reason)`` is how a connector whose session dies in the background (a subscription, a
    broker connection) reports it: the runner logs the gap once, stops the connector and starts it again
    with backoff (STYLE R11: one owner of reconnection). A mode method may instead raise
    ``ConnectorConnectionError``/``ConnectorNotReady``, which the runner treats the same way.

    ``data_folder`` is the engine's data folder (``oibus.db``, ``certs/``): a relative path in the settings
    is relative to it (``resolve``), never to the process's working directory. ``base_folder`` is the
    connector's own folder under it.
    """

    id: str
    name: str
    logger: Logger
    base_folder: Path
    engine_name: str = "OIBus"
    extra: dict[str, Any] = field(default_factory=dict)
    connection_lost: Callable[[str], None] = _ignore_lost
    data_folder: Path = field(kw_only=True)

    def resolve(self, path: str | Path) -> Path:
        """``path`` as the connector must open it: relative to ``data_folder`` unless absolute."""
        return resolve_in(self.data_folder, path)


class SouthConnector(ABC, Generic[S, I]):
    """A source. ``start`` connects (raise ``ConnectorNotReady`` to be retried); ``stop`` is idempotent.

    The engine calls the mode methods the manifest advertises: ``last_file``/``last_point`` on each tick
    of an item's scan mode, ``history_query`` for history items, ``subscribe``/``unsubscribe`` for items
    of the ``subscription`` scan mode. A mode method hands data to ``self.sink`` and returns when done.
    """

    manifest: ConnectorManifest

    def __init__(self, settings: S, context: ConnectorContext, sink: ValueSink, cache: SouthCache) -> None:
        self.settings = settings
        self.context = context
        self.sink = sink
        self.cache = cache

    @abstractmethod
    async def start(self) -> None:
        """Connect to the source."""

    @abstractmethod
    async def stop(self) -> None:
        """Release every resource; safe to call twice."""

    async def test_connection(self) -> None:
        """Raise a ``ConnectorError`` that explains why the source cannot be reached."""

    async def test_item(self, item: Item[I], start: datetime, end: datetime) -> None:
        """Read ``item`` once into ``self.sink`` for an operator's test, changing nothing at the source.

        The runner calls it on an instance built for the test (never on the running one, and without
        ``start``): its sink only records and its cache forgets what is written. ``start`` and ``end`` bound a
        history read. The default connects, runs the mode method the manifest advertises, and disconnects. A
        ``lastFile`` connector must override it (its mode method consumes what it hands over), and so must a
        subscription-only one.
        """
        modes = self.manifest.modes
        if modes.last_file or not (modes.last_point or modes.history):
            raise ConnectorError(f"South type '{self.manifest.id}' cannot test an item")
        await self.start()
        try:
            if modes.last_point:
                await self.last_point([item])
            else:
                await self.history_query([item], start, end)
        finally:
            await self.stop()

    def history_items(self, items: list[Item[I]]) -> list[Item[I]]:
        """Which of ``items`` the runner reads with ``history_query`` on a tick of their scan mode.

        Default: all of them for a type whose only polled mode is ``history``, none otherwise. A type with both
        ``last_point`` and ``history`` (OPC UA: DA and HA items) says which items are history items; its
        ``last_point`` receives every item of the tick and skips those.
        """
        modes = self.manifest.modes
        return items if modes.history and not modes.last_point else []

    async def last_file(self, items: list[Item[I]]) -> None:
        """Read the new files of ``items`` (``lastFile`` mode)."""
        raise NotImplementedError

    async def last_point(self, items: list[Item[I]]) -> None:
        """Read the current values of ``items`` (``lastPoint`` mode)."""
        raise NotImplementedError

    async def history_query(self, items: list[Item[I]], start: datetime, end: datetime) -> datetime | None:
        """Read ``items`` between ``start`` and ``end``; return the newest instant read, if any."""
        raise NotImplementedError

    async def subscribe(self, items: list[Item[I]]) -> None:
        """Start receiving changes of ``items``."""
        raise NotImplementedError

    async def unsubscribe(self, items: list[Item[I]]) -> None:
        """Stop receiving changes of ``items``."""
        raise NotImplementedError


class NorthConnector(ABC, Generic[S]):
    """A target. The runner feeds it one cache entry at a time and owns retries.

    ``handle_values`` and ``handle_file`` return once the target confirmed the data; they raise
    ``SendError`` otherwise (``retry_forever=True`` for transient failures).
    """

    manifest: ConnectorManifest

    def __init__(self, settings: S, context: ConnectorContext) -> None:
        self.settings = settings
        self.context = context

    @abstractmethod
    async def start(self) -> None:
        """Connect to the target (raise ``ConnectorNotReady`` to be retried)."""

    @abstractmethod
    async def stop(self) -> None:
        """Release every resource; safe to call twice."""

    async def test_connection(self) -> None:
        """Raise a ``ConnectorError`` that explains why the target cannot be reached."""

    supports_file_batches: ClassVar[bool] = False
    """True when ``handle_files`` delivers several files more cheaply than one ``handle_file`` each."""

    async def handle_values(self, values: list[TimeValue]) -> None:
        """Deliver a batch of time-values."""
        raise NotImplementedError

    async def handle_values_json(self, data: bytes) -> None:
        """Deliver a batch given as the JSON array bytes kept in the cache.

        The default decodes it for ``handle_values``; a connector that sends JSON anyway overrides it and
        saves a decode and an encode per value.
        """
        await self.handle_values(_VALUES.decode(data))

    async def handle_file(self, path: Path, filename: str) -> None:
        """Deliver the file at ``path`` whose logical name is ``filename``."""
        raise NotImplementedError

    async def handle_content(self, content_type: str, data: bytes) -> None:
        """Deliver a JSON array of another content type the manifest lists (a transformer's output).

        ``setpoint``: ``[{"reference", "value"}]``; ``mqtt``: ``[{"topic", "payload"}]`` (payload a string);
        ``modbus``: ``[{"address", "value", "modbusType"}]``; ``opcua``: ``[{"nodeId", "value", "dataType"?}]``;
        ``oianalytics``: ``[{"pointId", "timestamp", "data": {"value"}}]``.
        """
        raise NotImplementedError

    async def handle_files(self, files: list[tuple[Path, str]]) -> None:
        """Deliver several files, in order; on failure some may already be delivered (they will be again)."""
        for path, filename in files:
            await self.handle_file(path, filename)


_VALUES = msgspec.json.Decoder(list[TimeValue])
