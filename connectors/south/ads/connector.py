"""Beckhoff TwinCAT ADS South connector: reads the current value of PLC symbols by name."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from connectors.base import ConnectorContext, Item, SouthCache, SouthConnector, TimeValue, ValueSink
from connectors.common.js import js_string
from connectors.common.timestamps import iso_utc
from connectors.errors import ConnectorConnectionError, ConnectorError
from connectors.south.ads.client import AdsClient, AdsRefused, Symbol
from connectors.south.ads.manifest import MANIFEST, AdsItemSettings, AdsSettings

__all__ = ["AdsSouth"]

_INTEGERS = {"BYTE", "WORD", "DWORD", "SINT", "USINT", "INT", "UINT", "DINT", "UDINT", "LINT", "ULINT", "TIME"}
_INTEGERS |= {"TIME_OF_DAY", "TOD", "LWORD"}
_FLOATS = {"REAL", "LREAL"}
_DATES = {"DATE", "DATE_AND_TIME", "DT"}
_STRING = re.compile(r"^STRING(\(\d+\))?$")


class AdsSouth(SouthConnector[AdsSettings, AdsItemSettings]):
    """Reads items' symbols in sum reads and hands them over as time-values, written as upstream writes them.

    The point id is ``plcName`` + the item name. A symbol the PLC does not know, or whose type cannot be read,
    is logged once and skipped; a lost connection is raised to the runner, which restarts with backoff.
    """

    manifest = MANIFEST

    def __init__(self, settings: AdsSettings, context: ConnectorContext, sink: ValueSink, cache: SouthCache) -> None:
        super().__init__(settings, context, sink, cache)
        self._client: AdsClient | None = None
        self._symbols: dict[str, Symbol] = {}
        self._failing: dict[str, str] = {}

    async def start(self) -> None:
        """Open the ADS connection; ``ConnectorNotReady`` says why the PLC cannot be reached."""
        client = AdsClient(self.settings)
        await client.connect()
        self._client = client
        self._symbols.clear()

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
        read = await client.read(list(dict.fromkeys(item.settings.address for item in readable)))
        timestamp = iso_utc(datetime.now(UTC))
        values: list[TimeValue] = []
        produced: list[str] = []
        for item in readable:
            symbol = self._symbols[item.settings.address]
            text = self._text(symbol, read.get(item.settings.address))
            if text is None:
                self._failed(item, f"the PLC gave no value for {symbol.name!r}")
                continue
            point = self.settings.plc_name + item.name
            values.append({"pointId": point, "timestamp": timestamp, "data": {"value": text}})
            produced.append(item.id)
            if self._failing.pop(item.id, None) is not None:
                self.context.logger.info("item read again", item=item.name)
        if values:
            await self.sink.add_values(values, items=produced)

    async def _readable(self, client: AdsClient, item: Item[AdsItemSettings]) -> Item[AdsItemSettings]:
        name = item.settings.address
        symbol = self._symbols.get(name)
        if symbol is None:
            try:
                symbol = await client.symbol(name)
            except AdsRefused as err:
                raise ConnectorError(f"symbol {name!r} cannot be read: {err}") from err
            self._symbols[name] = symbol
        if not symbol.readable or not _known(symbol.type_name):
            raise ConnectorError(f"symbol {name!r} is of type {symbol.type_name}, which this connector cannot read")
        return item

    def _text(self, symbol: Symbol, value: Any) -> str | None:
        kind = symbol.type_name
        if value is None or (isinstance(value, str) and value.startswith("ADS Error")):
            return None
        if kind == "BOOL":
            return js_string(bool(value)) if self.settings.bool_as_text == "Text" else ("1" if value else "0")
        if kind in _INTEGERS:
            return str(int(value))
        if kind in _FLOATS:
            return js_string(float(value))
        if kind in _DATES:
            # The PLC counts seconds since 1970 (UTC); upstream writes the instant as JavaScript's toISOString.
            return iso_utc(datetime.fromtimestamp(int(value), UTC))
        return str(value)

    def _failed(self, item: Item[AdsItemSettings], reason: str) -> None:
        if self._failing.get(item.id) == reason:
            return
        self._failing[item.id] = reason
        self.context.logger.warning("item not read", item=item.name, reason=reason)


def _known(type_name: str) -> bool:
    return type_name in _INTEGERS | _FLOATS | _DATES | {"BOOL"} or bool(_STRING.match(type_name))
