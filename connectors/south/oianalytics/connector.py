"""OIAnalytics South connector: ``GET <endpoint>?<query params>`` per item and interval, answered time series.

The answer is upstream's list of series ``{unit: {label}, data: {reference}, timestamps: [], values: []}``;
each point becomes ``{pointId: reference, timestamp, data: {value, unit}}`` and the newest timestamp is the
item's new tracked instant. As upstream, the points of an interval are written to one CSV file (columns
``pointId``, ``timestamp``, ``value``, ``unit``; the timestamp in the serialization's format and zone);
``serialization.type: time-values`` hands them over as values instead.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec

from connectors.base import Item, SouthConnector, TimeValue
from connectors.common.oianalytics import (
    OIAClient,
    OIAHttpError,
)
from connectors.common.sql.output import CsvRowWriter, output_name
from connectors.common.sql.settings import DateTimeField
from connectors.errors import ConnectorError
from connectors.south.oianalytics.manifest import MANIFEST, OIAnalyticsItemSettings, OIAnalyticsSouthSettings

__all__ = ["OIAnalyticsSouth"]


class Unit(msgspec.Struct, frozen=True):
    """``unit`` of a series."""

    label: str | None = None


class Reference(msgspec.Struct, frozen=True):
    """``data`` of a series."""

    reference: str


class Series(msgspec.Struct, frozen=True):
    """One series of the answer (``type: time-values``)."""

    unit: Unit
    data: Reference
    timestamps: list[str]
    values: list[Any]


_SERIES = msgspec.json.Decoder(list[Series])


def iso(instant: datetime) -> str:
    """``2026-01-01T00:00:00.000Z``."""
    utc = instant.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_series(raw: bytes) -> tuple[list[TimeValue], datetime | None]:
    """Time-values of an answer and its newest instant; ``ConnectorError`` naming what is wrong."""
    try:
        series = _SERIES.decode(raw)
    except msgspec.DecodeError as err:
        raise ConnectorError(f"unexpected OIAnalytics answer: {err}") from err
    values: list[TimeValue] = []
    newest: datetime | None = None
    for index, found in enumerate(series):
        if len(found.timestamps) != len(found.values):
            raise ConnectorError(f"unexpected OIAnalytics answer: series {index} has timestamps and values apart")
        for timestamp, value in zip(found.timestamps, found.values, strict=True):
            try:
                instant = datetime.fromisoformat(timestamp)
            except ValueError as err:
                raise ConnectorError(f"unexpected OIAnalytics answer: timestamp {timestamp!r}") from err
            if instant.tzinfo is None:
                instant = instant.replace(tzinfo=UTC)
            newest = instant if newest is None or instant > newest else newest
            values.append(
                {
                    "pointId": found.data.reference,
                    "timestamp": iso(instant),
                    "data": {"value": value, "unit": found.unit.label},
                }
            )
    return values, newest


class OIAnalyticsSouth(OIAClient, SouthConnector[OIAnalyticsSouthSettings, OIAnalyticsItemSettings]):
    """Queries OIAnalytics interval by interval (see the module docstring)."""

    manifest = MANIFEST

    async def history_query(
        self, items: list[Item[OIAnalyticsItemSettings]], start: datetime, end: datetime
    ) -> datetime | None:
        """Query each item between ``start`` and ``end``; returns the newest instant received."""
        target = self._target or self._connection()
        newest: datetime | None = None
        for item in items:
            params = [
                (param.key, param.value.replace("@StartTime", iso(start)).replace("@EndTime", iso(end)))
                for param in item.settings.query_params
            ]
            try:
                raw = await target.request("GET", item.settings.endpoint, params=params)
            except OIAHttpError as err:
                raise ConnectorError(
                    f"HTTP request failed with status code {err.status} and message: {err.body}"
                ) from err
            values, instant = parse_series(raw)
            if values:
                await self._hand_over(item, values, start, end)
            if instant is not None and (newest is None or instant > newest):
                newest = instant
        return newest

    async def _hand_over(
        self, item: Item[OIAnalyticsItemSettings], values: list[TimeValue], start: datetime, end: datetime
    ) -> None:
        out = item.settings.serialization
        if out.type == "time-values":
            await self.sink.add_values(values, items=[item.id])
            return
        folder = self.context.base_folder / "tmp"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{uuid.uuid4().hex}.csv{'.gz' if out.compression else ''}"
        rows = [(v["pointId"], v["timestamp"], v["data"]["value"], v["data"].get("unit")) for v in values]
        try:
            with CsvRowWriter(path, ["pointId", "timestamp", "value", "unit"], _TIMESTAMP, out) as writer:
                writer.write(rows)
            name = output_name(out, connector=self.context.name, item=item.name, start=start, end=end)
            await self.sink.add_file(path, filename=name, owned=True)
        finally:
            path.unlink(missing_ok=True)


_TIMESTAMP = [DateTimeField(field_name="timestamp", type="iso-string")]
"""The points' timestamps (ISO 8601 UTC text), rewritten in the serialization's format and zone."""
