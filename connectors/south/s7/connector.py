"""Siemens S7 South connector: reads the current value of data block, memory, input and output addresses."""

from __future__ import annotations

from datetime import UTC, datetime

from connectors.base import ConnectorContext, Item, SouthCache, SouthConnector, TimeValue, ValueSink
from connectors.common.js import js_string
from connectors.common.timestamps import iso_utc
from connectors.errors import ConnectorConnectionError, ConnectorError
from connectors.south.s7.address import Address, Span, decode, parse_address, plan
from connectors.south.s7.client import S7Client, S7Refused
from connectors.south.s7.manifest import MANIFEST, S7ItemSettings, S7Settings

__all__ = ["S7South"]

GROUPING_GAP = 16
"""Unused bytes one read may span between two addresses of the same area: reading them costs far less than
a second request. An area that ends inside such a gap refuses the read; its addresses are then read alone."""


class S7South(SouthConnector[S7Settings, S7ItemSettings]):
    """Reads items in as few area reads as their addresses allow and hands them over as time-values.

    Each value is ``{"pointId": item name, "timestamp": time of the answer, "data": {"value": text}}`` with the
    text upstream sends (``"true"``/``"false"``, ``"3.5"``, the string itself). An address the PLC refuses is
    logged once and skipped, the others are still read; a lost connection is raised to the runner, which
    restarts the connector with backoff.
    """

    manifest = MANIFEST

    def __init__(self, settings: S7Settings, context: ConnectorContext, sink: ValueSink, cache: SouthCache) -> None:
        super().__init__(settings, context, sink, cache)
        self._client: S7Client | None = None
        # Items that failed and why, so that a lasting failure is logged once, and once when it recovers.
        self._failing: dict[str, str] = {}
        # Items refused inside a grouped read: read alone from then on, so they cannot blind their neighbours.
        self._isolated: set[str] = set()

    async def start(self) -> None:
        """Open the S7 session; ``ConnectorNotReady`` says why the PLC cannot be reached."""
        client = S7Client(self.settings)
        await client.connect()
        self._client = client

    async def stop(self) -> None:
        """Close the session."""
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def test_connection(self) -> None:
        """Open and close an S7 session; ``ConnectorNotReady`` says why it failed."""
        client = S7Client(self.settings)
        try:
            await client.connect()
        finally:
            await client.close()

    async def test_item(self, item: Item[S7ItemSettings], start: datetime, end: datetime) -> None:
        """Read ``item`` once; a refusal is raised with its reason instead of logged."""
        del start, end  # S7 has no history.
        await self.start()
        try:
            await self._read([item], strict=True)
        finally:
            await self.stop()

    async def last_point(self, items: list[Item[S7ItemSettings]]) -> None:
        """Read the current value of ``items`` and hand them over (``lastPoint`` mode)."""
        await self._read(items, strict=False)

    async def _read(self, items: list[Item[S7ItemSettings]], *, strict: bool) -> None:
        client = self._client
        if client is None:
            raise ConnectorConnectionError("not connected to the PLC")
        by_id = {item.id: item for item in items}
        # The addresses were validated with the settings: parsing again cannot fail.
        addresses = [(item.id, parse_address(item.settings.address)) for item in items]
        grouped = [pair for pair in addresses if pair[0] not in self._isolated]
        alone = [pair for pair in addresses if pair[0] in self._isolated]
        spans = plan(grouped, gap=GROUPING_GAP, limit=client.max_read) + plan(alone, gap=0, limit=1)
        values: list[TimeValue] = []
        produced: list[str] = []
        try:
            for span in spans:
                await self._run(client, span, by_id, values, produced, strict=strict)
        finally:
            # What was read before a lost connection is still good: hand it over, then let the runner reconnect.
            if values:
                await self.sink.add_values(values, items=produced)

    async def _run(
        self,
        client: S7Client,
        span: Span,
        by_id: dict[str, Item[S7ItemSettings]],
        values: list[TimeValue],
        produced: list[str],
        *,
        strict: bool,
    ) -> None:
        try:
            data = await client.read(span.area, span.db, span.start, span.size)
        except S7Refused as err:
            if strict:
                raise
            if len(span.members) > 1:
                self.context.logger.warning("grouped read refused, reading its items one by one", reason=str(err))
                self._isolated.update(key for key, _ in span.members)
                for member in span.members:
                    single = Span(span.area, span.db, member[1].offset, member[1].size, [member])
                    await self._run(client, single, by_id, values, produced, strict=strict)
                return
            self._failed(by_id[span.members[0][0]], str(err))
            return
        timestamp = iso_utc(datetime.now(UTC))
        for key, address in span.members:
            item = by_id[key]
            try:
                value = _value(address, data, span.start)
            except ConnectorError as err:
                if strict:
                    raise
                self._failed(item, str(err))
                continue
            values.append({"pointId": item.name, "timestamp": timestamp, "data": {"value": value}})
            produced.append(key)
            if self._failing.pop(key, None) is not None:
                self.context.logger.info("item read again", item=item.name)

    def _failed(self, item: Item[S7ItemSettings], reason: str) -> None:
        if self._failing.get(item.id) == reason:
            return
        self._failing[item.id] = reason
        self.context.logger.warning("item not read", item=item.name, reason=reason)


def _value(address: Address, data: bytes, start: int) -> str:
    offset = address.offset - start
    chunk = data[offset : offset + address.size]
    if len(chunk) != address.size:
        raise ConnectorError(f"the PLC answered {len(chunk)} byte(s) where {address.size} were expected")
    return js_string(decode(address, chunk))
