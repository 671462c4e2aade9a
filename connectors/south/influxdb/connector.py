"""InfluxDB South connector: one query per item and interval, handed over as an any-content JSON list.

As upstream 3.9: ``@StartTime``/``@EndTime`` in the query become the interval's instants in ISO 8601
(``2024-01-01T00:00:00.000Z``, written by us, so only digits and ``-:.TZ`` ever enter the text); the rows
go out as ``any-content`` (a North needs a transformer for it); the tracked instant is the ``time``
(v1, v3) or ``_time`` (v2) of the last row, InfluxDB answering in ascending time order.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from connectors.base import Item, SouthConnector
from connectors.errors import ConnectorError
from connectors.south.influxdb.client import InfluxdbClient, Row
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

    async def _rows(self, item: Item[InfluxdbItemSettings], start: datetime, end: datetime) -> list[Row]:
        async with InfluxdbClient(self.settings) as client:
            return await client.query(query_text(item.settings.query, start, end), item.settings.request_timeout)

    async def test_item(self, item: Item[InfluxdbItemSettings], start: datetime, end: datetime) -> None:
        """Run the item's query over ``[start, end]`` and hand over its rows."""
        await self.sink.add_content(msgspec.json.encode(await self._rows(item, start, end)).decode())

    async def history_query(
        self, items: list[Item[InfluxdbItemSettings]], start: datetime, end: datetime
    ) -> datetime | None:
        """Query each item over ``[start, end]``; return the time of the newest last row."""
        newest: datetime | None = None
        field = "_time" if self.settings.version == "2" else "time"
        for item in items:
            rows = await self._rows(item, start, end)
            if not rows:
                self.context.logger.debug("no rows", item=item.name, start=_iso(start), end=_iso(end))
                continue
            instant = _instant(rows[-1].get(field))
            if instant is None:
                raise ConnectorError(f"item {item.name}: the last row has no readable '{field}' column")
            await self.sink.add_content(msgspec.json.encode(rows).decode())
            self.context.logger.debug("rows handed over", item=item.name, rows=len(rows))
            newest = instant if newest is None or instant > newest else newest
        return newest
