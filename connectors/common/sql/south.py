"""The SQL South family's shared behaviour: read one interval into a CSV file and hand it over.

Each type supplies a ``SqlClient`` (its driver glue, in its own ``client.py``); this module owns the rest.
One connection per read, as upstream does: a server restart or a dropped connection costs one failed read,
which the runner logs with the driver's error and retries at the next scan, and the tracked instant moves
only after the file of an interval was stored by every target North.
"""

from __future__ import annotations

import asyncio
import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Generic, TypeVar

import msgspec

from connectors.base import Item, SouthConnector
from connectors.common.sql.output import CsvRowWriter, output_name, parameter_value
from connectors.common.sql.query import ParamStyle, bind_placeholders
from connectors.common.sql.settings import SqlItemSettings

__all__ = ["FETCH_CHUNK", "TEST_ROWS", "NaiveUtcClient", "SqlClient", "SqlSouth", "ThreadedClient"]

FETCH_CHUNK = 10_000
"""Rows fetched from the driver and written to the file at a time: the most a read holds in memory."""

TEST_ROWS = 1000
"""Rows an item test shows at most."""


class SqlClient(ABC):
    """One connection: ``async with client:`` connects; ``execute`` runs a query, ``fetch`` streams its rows.

    Implementations raise ``ConnectorConnectionError`` when the server cannot be reached or drops the
    connection, and ``ConnectorError`` carrying the driver's message when a statement fails.
    """

    paramstyle: ClassVar[ParamStyle]

    @abstractmethod
    async def connect(self) -> None:
        """Open the connection."""

    @abstractmethod
    async def close(self) -> None:
        """Close the connection; safe to call twice and after a failed ``connect``."""

    @abstractmethod
    async def execute(self, text: str, params: Sequence[Any]) -> list[str]:
        """Run ``text`` with ``params`` (already in the driver's marker style); return the column names."""

    @abstractmethod
    async def fetch(self, size: int) -> Sequence[Sequence[Any]]:
        """The next rows of the last ``execute`` (at most ``size``); empty once all were read."""

    async def ping(self) -> None:
        """Check the connection answers (``SELECT 1``)."""
        await self.execute("SELECT 1", [])
        await self.fetch(1)

    def native_instant(self, instant: datetime) -> Any:
        """How the driver takes an instant bound without a reference field (default: aware datetime)."""
        return instant

    async def copy_csv(
        self, settings: SqlItemSettings, start: Any, end: Any, path: Path
    ) -> tuple[int, datetime | None] | None:
        """Have the server write the item's CSV file itself, exactly as ``CsvRowWriter`` would.

        ``start``/``end``: the placeholders' values. Returns the rows written and the newest reference
        instant, or ``None`` (having written nothing) when this client or this item cannot: the rows are
        then read and written one by one. Default: ``None``.
        """
        return None

    async def __aenter__(self) -> SqlClient:
        try:
            await self.connect()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


S = TypeVar("S", bound=msgspec.Struct)


def naive_utc(value: Any) -> Any:
    """An aware datetime as naive UTC; any other value as it is."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


class NaiveUtcClient(SqlClient, Generic[S]):
    """A client over a driver whose date-time values carry no zone: every instant binds as naive UTC.

    Holds the South's settings, the open connection and the cursor of the last ``execute``.
    """

    def __init__(self, settings: S) -> None:
        self._settings = settings
        self._connection: Any = None
        self._cursor: Any = None

    def native_instant(self, instant: datetime) -> Any:
        """A naive UTC datetime."""
        return naive_utc(instant)

    @staticmethod
    def naive_params(params: Sequence[Any]) -> list[Any]:
        """``params`` with every aware datetime made naive UTC."""
        return [naive_utc(value) for value in params]


class ThreadedClient(NaiveUtcClient[S]):
    """A client over a blocking DB-API driver: each call runs in a worker thread, the loop never blocks.

    ``driver_errors`` are the exceptions the driver raises; ``translate`` turns one into ours.
    """

    driver_errors: ClassVar[tuple[type[BaseException], ...]]

    @abstractmethod
    def translate(self, err: BaseException) -> Exception:
        """``ConnectorConnectionError`` for a lost connection, else ``ConnectorError``, with the driver's text."""

    async def fetch(self, size: int) -> Sequence[Sequence[Any]]:
        """The next rows of the cursor, fetched in a thread."""
        try:
            rows: Sequence[Sequence[Any]] = await asyncio.to_thread(self._cursor.fetchmany, size)
            return rows
        except self.driver_errors as err:
            raise self.translate(err) from err


class SqlSouth(SouthConnector[S, SqlItemSettings], ABC):
    """A history-only South that reads each interval with the item's query into one CSV file."""

    @abstractmethod
    def client(self) -> SqlClient:
        """A new, unconnected client for the South's settings."""

    async def start(self) -> None:
        """Nothing to open: each read connects on its own."""

    async def stop(self) -> None:
        """Nothing to close."""

    async def test_connection(self) -> None:
        """Connect and run ``SELECT 1``."""
        async with self.client() as client:
            await client.ping()

    async def test_item(self, item: Item[SqlItemSettings], start: datetime, end: datetime) -> None:
        """Read the item over ``[start, end]`` and hand over its first rows as CSV text, storing nothing."""
        folder = self._scratch()
        path = folder / f"test-{uuid.uuid4().hex}.csv"
        settings = item.settings
        serialization = msgspec.structs.replace(settings.serialization, compression=False)
        try:
            async with self.client() as client:
                columns = await self._execute(client, settings, start, end)
                with CsvRowWriter(path, columns, settings.date_time_fields, serialization) as writer:
                    writer.write(await client.fetch(TEST_ROWS))
            await self.sink.add_content(path.read_text(encoding="utf-8"))
        finally:
            path.unlink(missing_ok=True)

    async def history_query(
        self, items: list[Item[SqlItemSettings]], start: datetime, end: datetime
    ) -> datetime | None:
        """Read each item over ``[start, end]``; return the newest reference instant read."""
        newest: datetime | None = None
        for item in items:
            instant = await self._read(item, start, end)
            if instant is not None and (newest is None or instant > newest):
                newest = instant
        return newest

    @staticmethod
    def _bounds(client: SqlClient, settings: SqlItemSettings, start: datetime, end: datetime) -> tuple[Any, Any]:
        """What ``@StartTime`` and ``@EndTime`` are bound to."""
        reference = next((field for field in settings.date_time_fields if field.use_as_reference), None)
        return (
            parameter_value(start, reference, client.native_instant),
            parameter_value(end, reference, client.native_instant),
        )

    async def _execute(self, client: SqlClient, settings: SqlItemSettings, start: datetime, end: datetime) -> list[str]:
        bound = bind_placeholders(settings.query, client.paramstyle)
        return await client.execute(bound.text, bound.values(*self._bounds(client, settings, start, end)))

    def _scratch(self) -> Path:
        folder = self.context.base_folder / "tmp"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    async def _read(self, item: Item[SqlItemSettings], start: datetime, end: datetime) -> datetime | None:
        settings = item.settings
        out = settings.serialization
        path = self._scratch() / f"{uuid.uuid4().hex}.csv{'.gz' if out.compression else ''}"
        try:
            async with self.client() as client:
                copied = await client.copy_csv(settings, *self._bounds(client, settings, start, end), path)
                rows, newest = copied if copied is not None else await self._write_rows(client, item, start, end, path)
            if not rows:
                self.context.logger.debug("no rows", item=item.name, start=start.isoformat(), end=end.isoformat())
                return None
            filename = output_name(out, connector=self.context.name, item=item.name, start=start, end=end)
            await self.sink.add_file(path, filename=filename, owned=True, items=[item.id])
            self.context.logger.debug("rows handed over", item=item.name, rows=rows, file=filename)
            return newest
        finally:
            path.unlink(missing_ok=True)

    async def _write_rows(
        self, client: SqlClient, item: Item[SqlItemSettings], start: datetime, end: datetime, path: Path
    ) -> tuple[int, datetime | None]:
        """The row path: fetch the rows chunk by chunk, each written before the next is fetched."""
        settings = item.settings
        columns = await self._execute(client, settings, start, end)
        with CsvRowWriter(path, columns, settings.date_time_fields, settings.serialization) as writer:
            while chunk := await client.fetch(FETCH_CHUNK):
                writer.write(chunk)
        if writer.unreadable:
            self.context.logger.warning(
                "date-time values could not be read", item=item.name, fields=dict(writer.unreadable)
            )
        return writer.rows, writer.newest
