"""InfluxDB South connector: one query per item and interval, handed over as any-content JSON lists.

As upstream 3.9: ``@StartTime``/``@EndTime`` in the query become the interval's instants in ISO 8601
(``2024-01-01T00:00:00.000Z``, written by us, so only digits and ``-:.TZ`` ever enter the text); the rows
go out as ``any-content`` (a North needs a transformer for it); the tracked instant is the ``time``
(v1, v3) or ``_time`` (v2) of the last row, InfluxDB answering in ascending time order. Unlike upstream,
which holds a window's whole answer, the rows are handed over as they come, ``chunk_rows`` (or a little
more) at a time: a window of millions of rows is several contents, and the tracked instant moves once all
were stored (a read cut in the middle is read again whole: its first contents come twice, none is lost).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from datetime import UTC, datetime

import msgspec

from connectors.base import Item, SouthConnector
from connectors.errors import ConnectorError
from connectors.south.influxdb.client import CHUNK_ROWS, InfluxdbClient, Row
from connectors.south.influxdb.manifest import MANIFEST, InfluxdbItemSettings, InfluxdbSettings

__all__ = ["InfluxdbSouth", "query_text"]


def _iso(instant: datetime) -> str:
    utc = instant.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def query_text(query: str, start: datetime, end: datetime) -> str:
    """The item's query with the interval's instants in place of ``@StartTime``/``@EndTime``."""
    return query.replace("@StartTime", _iso(start)).replace("@EndTime", _iso(end))


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        head, _, fraction = value.rstrip("Z").partition(".")
        parsed = datetime.fromisoformat(head + (f".{fraction[:6]}" if fraction else ""))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class InfluxdbSouth(SouthConnector[InfluxdbSettings, InfluxdbItemSettings]):
    """Queries InfluxDB interval by interval (see the module docstring)."""

    manifest = MANIFEST

    async def start(self) -> None:
        """Nothing to open: each read opens its own HTTP session."""

    async def stop(self) -> None:
        """Nothing to close."""

    async def test_connection(self) -> None:
        """Ping the server the way its version allows."""
        async with InfluxdbClient(self.settings) as client:
            await client.ping()

    chunk_rows = CHUNK_ROWS
    """Rows asked per v1 chunk, and gathered before a content is handed over: about what a read holds."""

    async def _batches(
        self, item: Item[InfluxdbItemSettings], start: datetime, end: datetime
    ) -> AsyncGenerator[list[Row], None]:
        """The item's rows over ``[start, end]`` in lists of ``chunk_rows`` or more (the last one shorter)."""
        query = query_text(item.settings.query, start, end)
        async with InfluxdbClient(self.settings, self.chunk_rows) as client:
            gathered: list[Row] = []
            async with aclosing(client.stream(query, item.settings.request_timeout)) as stream:
                async for rows in stream:
                    gathered.extend(rows)
                    if len(gathered) >= self.chunk_rows:
                        yield gathered
                        gathered = []
            if gathered:
                yield gathered

    async def test_item(self, item: Item[InfluxdbItemSettings], start: datetime, end: datetime) -> None:
        """Run the item's query over ``[start, end]`` and hand over its first ``chunk_rows`` rows (or so)."""
        first: list[Row] = []
        async with aclosing(self._batches(item, start, end)) as batches:
            async for rows in batches:
                first = rows
                break
        await self.sink.add_content(msgspec.json.encode(first).decode())

    async def history_query(
        self, items: list[Item[InfluxdbItemSettings]], start: datetime, end: datetime
    ) -> datetime | None:
        """Query each item over ``[start, end]``; return the time of the newest last row."""
        newest: datetime | None = None
        field = "_time" if self.settings.version == "2" else "time"
        for item in items:
            count = 0
            async with aclosing(self._batches(item, start, end)) as batches:
                async for rows in batches:
                    instant = _instant(rows[-1].get(field))
                    if instant is None:
                        raise ConnectorError(f"item {item.name}: the last row has no readable '{field}' column")
                    await self.sink.add_content(msgspec.json.encode(rows).decode())
                    count += len(rows)
                    newest = instant if newest is None or instant > newest else newest
            if count:
                self.context.logger.debug("rows handed over", item=item.name, rows=count)
            else:
                self.context.logger.debug("no rows", item=item.name, start=_iso(start), end=_iso(end))
        return newest
