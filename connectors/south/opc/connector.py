"""OPC South: history reads of classic OPC HDA (or current values of OPC DA) servers through the OIBus Agent.

As upstream 3.9: one ``read`` per aggregate and resampling among the items, with the window's instants,
``maxReadValues`` 3600 and ``intervalReadDelay`` 200 (the agent pages its own reads of the server with
them); the values go out as time-values with the item's name as ``pointId``; the tracked instant is the
answer's ``maxInstantRetrieved`` plus 1 ms, so the next window does not read the last value again. The
engine cuts the windows (``maxReadInterval``) and moves the tracked instant only once the values are stored.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from connectors.base import Item
from connectors.common.oibus_agent import AgentSouth, iso_ms, max_instant
from connectors.south.opc.manifest import MANIFEST, OpcItemSettings, OpcSettings

__all__ = ["OpcSouth"]

MAX_READ_VALUES = 3600
INTERVAL_READ_DELAY_MS = 200
_ONE_MS = timedelta(milliseconds=1)


class OpcSouth(AgentSouth[OpcSettings, OpcItemSettings]):
    """Reads OPC HDA/DA through the agent (see the module docstring)."""

    manifest = MANIFEST
    family = "opc"

    def connect_body(self) -> dict[str, Any]:
        """Which server the agent opens, and in which mode."""
        s = self.settings
        return {"host": s.host, "serverName": s.server_name, "mode": s.mode}

    async def test_connection(self) -> None:
        """Connect the test session, log what the agent says of the server, disconnect."""
        async with self.client() as client:
            await client.connect(self.connect_body(), test=True)
            try:
                self.context.logger.info("OPC server status", status=await client.status(test=True))
            finally:
                await client.disconnect(test=True)

    async def test_item(self, item: Item[OpcItemSettings], start: datetime, end: datetime) -> None:
        """Read ``item`` over ``[start, end]`` on the test session and hand the values over."""
        body = self.connect_body() | {
            "aggregate": item.settings.aggregate,
            "resampling": item.settings.resampling,
            "startTime": iso_ms(start),
            "endTime": iso_ms(end),
            "items": [{"nodeId": item.settings.node_id, "name": item.name}],
        }
        await self.sink.add_values(await self.test_read(body), items=[item.id])

    async def history_query(
        self, items: list[Item[OpcItemSettings]], start: datetime, end: datetime
    ) -> datetime | None:
        """Read the items over ``[start, end]``, one request per aggregate and resampling."""
        groups: dict[tuple[str, str], list[Item[OpcItemSettings]]] = {}
        for item in items:
            groups.setdefault((item.settings.aggregate, item.settings.resampling), []).append(item)
        newest: datetime | None = None
        for (aggregate, resampling), group in groups.items():
            body = self.connect_body() | {
                "maxReadValues": MAX_READ_VALUES,
                "intervalReadDelay": INTERVAL_READ_DELAY_MS,
                "aggregate": aggregate,
                "resampling": resampling,
                "startTime": iso_ms(start),
                "endTime": iso_ms(end),
                "items": [{"name": item.name, "nodeId": item.settings.node_id} for item in group],
            }
            answer, values = await self.read(body)
            if not values:
                self.context.logger.debug("no values", items=len(group), start=iso_ms(start), end=iso_ms(end))
                continue
            instant = max_instant(answer, values)  # checked before the hand-over: a bad one stops the read
            await self.sink.add_values(values, items=[item.id for item in group])
            self.context.logger.debug("values handed over", values=len(values), records=answer.record_count)
            if instant is not None and instant >= start:
                # 1 ms past the newest value, as upstream: the next window starts after it.
                instant += _ONE_MS
                newest = instant if newest is None or instant > newest else newest
        return newest
