"""Beckhoff TwinCAT ADS South connector: reads the current value of PLC symbols by name."""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from typing import Any

from connectors.base import ConnectorContext, Item, SouthCache, SouthConnector, TimeValue, ValueSink
from connectors.common.timestamps import iso_utc
from connectors.errors import ConnectorConnectionError, ConnectorError
from connectors.south.ads import datatypes
from connectors.south.ads.browse import browse_page, parse_cursor
from connectors.south.ads.client import AdsClient, AdsRefused
from connectors.south.ads.datatypes import DataTypeEntry, Layout, SymbolEntry, TextOptions
from connectors.south.ads.manifest import MANIFEST, AdsItemSettings, AdsSettings

__all__ = ["AdsSouth"]


class AdsSouth(SouthConnector[AdsSettings, AdsItemSettings]):
    """Reads items' symbols in sum reads and hands them over as time-values, written as upstream writes them.

    The point id is ``plcName`` + the item name; an enumeration, structure or array symbol gives the values
    upstream flattens it into, laid out by the PLC's data type descriptions (asked once per type name per
    connection). A symbol the PLC does not know, or whose type cannot be read, is logged once and skipped; a lost
    connection is raised to the runner, which restarts with backoff.
    """

    manifest = MANIFEST

    def __init__(self, settings: AdsSettings, context: ConnectorContext, sink: ValueSink, cache: SouthCache) -> None:
        super().__init__(settings, context, sink, cache)
        self._client: AdsClient | None = None
        self._symbols: dict[str, tuple[SymbolEntry, Layout]] = {}
        # What the PLC said of each type name, and the layouts resolved from it: asked again after a reconnection,
        # as the PLC may have been loaded with another program.
        self._descriptions: dict[str, DataTypeEntry | None] = {}
        self._layouts: dict[str, Layout | str] = {}
        self._failing: dict[str, str] = {}
        self._table: list[SymbolEntry] | None = None
        """The PLC's symbol table, uploaded for the first page browsed on this connection."""
        self._options = TextOptions(
            bool_as_text=settings.bool_as_text == "Text",
            enum_as_text=settings.enum_as_text == "Text",
            structures={
                rule.name: None if rule.fields.strip() == "*" else frozenset(f.strip() for f in rule.fields.split(","))
                for rule in settings.structure_filtering
            },
        )

    async def start(self) -> None:
        """Open the ADS connection; ``ConnectorNotReady`` says why the PLC cannot be reached."""
        client = AdsClient(self.settings)
        await client.connect()
        self._client = client
        self._symbols.clear()
        self._descriptions.clear()
        self._layouts.clear()
        self._table = None

    async def stop(self) -> None:
        """Close the connection."""
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def test_connection(self) -> None:
        """Open and close an ADS connection; ``ConnectorNotReady`` says why it failed."""
        client = AdsClient(self.settings)
        try:
            await client.connect()
        finally:
            await client.close()

    async def browse(self, node: str | None, cursor: str | None, size: int) -> dict[str, Any]:
        """One page of a level of the PLC's symbol names (``browse.browse_page``).

        On the open connection, whose table is uploaded once (a PLC loaded with another program is seen after the
        connector restarts), or else on a connection opened for the page.
        """
        parse_cursor(cursor)  # A bad cursor is refused before the PLC is asked anything.
        client = self._client
        if client is not None:
            if self._table is None:
                self._table = await self._upload(client)
            return browse_page(self._table, node, cursor, size)
        client = AdsClient(self.settings)
        try:
            await client.connect()
            return browse_page(await self._upload(client), node, cursor, size)
        finally:
            await client.close()

    @staticmethod
    async def _upload(client: AdsClient) -> list[SymbolEntry]:
        try:
            return await client.symbols()
        except AdsRefused as err:
            raise ConnectorError(f"the PLC does not list its symbols: {err}") from err

    async def test_item(self, item: Item[AdsItemSettings], start: datetime, end: datetime) -> None:
        """Read ``item`` once; a refusal is raised with its reason instead of logged."""
        del start, end  # ADS has no history.
        await self.start()
        try:
            await self._read([item], strict=True)
        finally:
            await self.stop()

    async def last_point(self, items: list[Item[AdsItemSettings]]) -> None:
        """Read the current value of ``items`` and hand them over (``lastPoint`` mode)."""
        await self._read(items, strict=False)

    async def _read(self, items: list[Item[AdsItemSettings]], *, strict: bool) -> None:
        client = self._client
        if client is None:
            raise ConnectorConnectionError("not connected to the PLC")
        readable: list[Item[AdsItemSettings]] = []
        for item in items:
            try:
                readable.append(await self._readable(client, item))
            except ConnectorError as err:
                if strict or isinstance(err, ConnectorConnectionError):
                    raise
                self._failed(item, str(err))
        if not readable:
            return
        names = list(dict.fromkeys(item.settings.address for item in readable))
        read = dict(zip(names, await client.read([self._symbols[name][0] for name in names]), strict=True))
        timestamp = iso_utc(datetime.now(UTC))
        values: list[TimeValue] = []
        produced: list[str] = []
        for item in readable:
            symbol, layout = self._symbols[item.settings.address]
            data = read[item.settings.address]
            if isinstance(data, int):
                self._failed(item, f"the PLC answered ADS error {data} reading {symbol.name!r}")
                continue
            if len(data) < symbol.size:
                self._failed(item, f"the PLC answered {len(data)} of the {symbol.size} bytes of {symbol.name!r}")
                continue
            prefix = self.settings.plc_name + item.name
            try:
                texts = list(datatypes.values(layout, data, prefix, self._options))
            except struct.error:
                # The symbol's bytes are fewer than its type's description lays out: that symbol only is skipped.
                self._failed(item, f"the {len(data)} bytes of {symbol.name!r} do not fit its type {symbol.type_name}")
                continue
            if not texts:
                self._failed(item, f"{symbol.name!r} is a {symbol.type_name} and structureFiltering selects nothing")
                continue
            for point, text in texts:
                values.append({"pointId": point, "timestamp": timestamp, "data": {"value": text}})
            produced.append(item.id)
            if self._failing.pop(item.id, None) is not None:
                self.context.logger.info("item read again", item=item.name)
        if values:
            await self.sink.add_values(values, items=produced)

    async def _readable(self, client: AdsClient, item: Item[AdsItemSettings]) -> Item[AdsItemSettings]:
        name = item.settings.address
        if name in self._symbols:
            return item
        try:
            symbol = await client.symbol(name)
        except AdsRefused as err:
            raise ConnectorError(f"symbol {name!r} cannot be read: {err}") from err

        async def describe(type_name: str) -> DataTypeEntry | None:
            if type_name not in self._descriptions:
                self._descriptions[type_name] = await client.datatype(type_name)
            return self._descriptions[type_name]

        try:
            layout = await datatypes.resolve(symbol.type_name, symbol.size, describe, self._options, self._layouts)
        except AdsRefused as err:
            raise ConnectorError(f"the type of symbol {name!r} cannot be described: {err}") from err
        if isinstance(layout, str):
            raise ConnectorError(f"symbol {name!r} is of type {symbol.type_name}, which cannot be read: {layout}")
        for reason in datatypes.unread(layout):
            self.context.logger.warning("field not read", item=item.name, reason=reason)
        self._symbols[name] = (symbol, layout)
        return item

    def _failed(self, item: Item[AdsItemSettings], reason: str) -> None:
        if self._failing.get(item.id) == reason:
            return
        self._failing[item.id] = reason
        self.context.logger.warning("item not read", item=item.name, reason=reason)
