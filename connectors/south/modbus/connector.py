"""Modbus TCP South connector: reads the current value of coils, discrete inputs and registers."""

from __future__ import annotations

from datetime import UTC, datetime

from connectors.base import ConnectorContext, Item, SouthCache, SouthConnector, TimeValue, ValueSink
from connectors.common.modbus import ByteOrder, decode, format_number
from connectors.common.modbus_client import ModbusClient, ModbusSession
from connectors.errors import ConnectorConnectionError, ConnectorError
from connectors.south.modbus.manifest import MANIFEST, ModbusItemSettings, ModbusSettings
from connectors.south.modbus.plan import Point, Request, covered, locate, plan

__all__ = ["ModbusSouth"]

_PLAN_CACHE_SIZE = 16
"""Plans kept (one per scan mode in practice): planning thousands of items at every tick would cost more
than reading them."""


class ModbusSouth(ModbusSession[ModbusSettings], SouthConnector[ModbusSettings, ModbusItemSettings]):
    """Reads items in as few requests as ``batchQuery``/``groupingGap`` allow and hands them over as time-values.

    Each value is ``{"pointId": item name, "timestamp": time of the answer, "data": {"value": text}}``; the
    value is a string as upstream sends it (``"1"``/``"0"`` for coils and bits). An item the server refuses
    (illegal address...) is logged once and skipped, the others are still read; a lost connection is raised
    to the runner, which restarts the connector with backoff.
    """

    manifest = MANIFEST

    def __init__(self, settings: ModbusSettings, context: ConnectorContext, sink: ValueSink, cache: SouthCache) -> None:
        super().__init__(settings, context, sink, cache)
        self._order = ByteOrder.of(settings)
        self._client: ModbusClient | None = None
        self._plans: dict[tuple[str, ...], tuple[list[Request], dict[str, str]]] = {}
        # Items that failed and why, so that a lasting failure is logged once, and once when it recovers.
        self._failing: dict[str, str] = {}
        # Items the server refused inside a batch: read alone from then on, so they cannot blind their neighbours.
        self._isolated: set[str] = set()

    async def test_item(self, item: Item[ModbusItemSettings], start: datetime, end: datetime) -> None:
        """Read ``item`` once; a refusal or a bad address is raised with its reason instead of logged."""
        del start, end  # Modbus has no history.
        await self.start()
        try:
            await self._read([item], strict=True)
        finally:
            await self.stop()

    async def last_point(self, items: list[Item[ModbusItemSettings]]) -> None:
        """Read the current value of ``items`` and hand them over (``lastPoint`` mode)."""
        await self._read(items, strict=False)

    async def _read(self, items: list[Item[ModbusItemSettings]], *, strict: bool) -> None:
        client = self._client
        if client is None:
            raise ConnectorConnectionError("not connected to the Modbus server")
        requests, problems = self._plan(items)
        if problems:
            if strict:
                raise ConnectorError(next(iter(problems.values())))
            for item in items:
                if item.id in problems:
                    self._failed(item, problems[item.id])
        values: list[TimeValue] = []
        produced: list[str] = []
        try:
            for request in requests:
                await self._run(client, request, values, produced, strict=strict)
        except ConnectorConnectionError:
            # What was read before the loss is still good: hand it over, then let the runner reconnect.
            if values:
                await self.sink.add_values(values, items=produced)
            raise
        if values:
            await self.sink.add_values(values, items=produced)

    def _plan(self, items: list[Item[ModbusItemSettings]]) -> tuple[list[Request], dict[str, str]]:
        key = tuple(item.id for item in items)
        cached = self._plans.get(key)
        if cached is not None:
            return cached
        points: list[Point] = []
        problems: dict[str, str] = {}
        for item in items:
            try:
                points.append(locate(item, self.settings.address_offset))
            except ValueError as err:
                problems[item.id] = f"item {item.name!r} cannot be read: {err}"
        grouped = [point for point in points if point.item.id not in self._isolated]
        alone = [point for point in points if point.item.id in self._isolated]
        requests = plan(grouped, batch=self.settings.batch_query, grouping_gap=self.settings.grouping_gap)
        requests += plan(alone, batch=False, grouping_gap=0)
        if len(self._plans) >= _PLAN_CACHE_SIZE:
            self._plans.clear()
        self._plans[key] = (requests, problems)
        return requests, problems

    async def _run(
        self, client: ModbusClient, request: Request, values: list[TimeValue], produced: list[str], *, strict: bool
    ) -> None:
        try:
            raw = await client.read(request.table, request.address, request.count)
        except ConnectorConnectionError:
            raise
        except ConnectorError as err:
            if strict:
                raise
            if len(request.points) > 1:
                # One refused address fails the whole request: read its items alone to find which.
                self.context.logger.warning(
                    "batch refused, reading its items one by one",
                    table=request.table,
                    address=request.address,
                    count=request.count,
                    reason=str(err),
                )
                self._isolate(request)
                for point in request.points:
                    alone = Request(point.table, point.address, point.size, [point])
                    await self._run(client, alone, values, produced, strict=strict)
                return
            self._failed(request.points[0].item, str(err))
            return
        timestamp = _now()
        for point in request.points:
            registers = covered(request, point, raw)
            value = decode(registers, point.data_type, self._order, point.bit_index)
            values.append(
                {
                    "pointId": point.item.name,
                    "timestamp": timestamp,
                    "data": {"value": format_number(value, point.data_type, point.multiplier)},
                }
            )
            produced.append(point.item.id)
            if point.item.id in self._failing:
                del self._failing[point.item.id]
                self.context.logger.info("item read again", item=point.item.name)

    def _isolate(self, request: Request) -> None:
        """Read the items of a refused batch one by one from now on (the plans are rebuilt)."""
        self._isolated.update(point.item.id for point in request.points)
        self._plans.clear()

    def _failed(self, item: Item[ModbusItemSettings], reason: str) -> None:
        if self._failing.get(item.id) == reason:
            return
        self._failing[item.id] = reason
        self.context.logger.warning("item not read", item=item.name, reason=reason)


def _now() -> str:
    """The current instant as upstream writes it (ISO-8601 UTC, milliseconds, ``Z``)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
