"""OSIsoft PI South: history reads of PI points (by id or by point query) through the OIBus Agent.

As upstream 3.9: one ``read`` of every item over the window, with ``{name, type, piPoint, piQuery}`` per
item; the agent's ``logs`` are logged as warnings; the values go out as time-values (``pointId``: the
item's name for a point id, the PI point's name for a point query); the tracked instant is the answer's
``maxInstantRetrieved``. The engine cuts the windows (``maxReadInterval``) and moves the tracked instant
only once the values are stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connectors.base import Item
from connectors.common.oibus_agent import AgentSouth, iso_ms, max_instant
from connectors.south.osisoft_pi.manifest import MANIFEST, PiItemSettings, PiSettings

__all__ = ["PiSouth"]


def _body(items: list[Item[PiItemSettings]], start: datetime, end: datetime) -> dict[str, Any]:
    return {
        "startTime": iso_ms(start),
        "endTime": iso_ms(end),
        "items": [
            {"name": item.name, "type": item.settings.type, "piPoint": item.settings.pi_point}
            if item.settings.type == "point-id"
            else {"name": item.name, "type": item.settings.type, "piQuery": item.settings.pi_query}
            for item in items
        ],
    }


class PiSouth(AgentSouth[PiSettings, PiItemSettings]):
    """Reads PI through the agent (see the module docstring)."""

    manifest = MANIFEST
    family = "pi"

    async def test_connection(self) -> None:
        """Connect the test session and disconnect it."""
        async with self.client() as client:
            await client.connect(None, test=True)
            await client.disconnect(test=True)

    async def test_item(self, item: Item[PiItemSettings], start: datetime, end: datetime) -> None:
        """Read ``item`` over ``[start, end]`` on the test session and hand the values over."""
        await self.sink.add_values(await self.test_read(_body([item], start, end)), items=[item.id])

    async def history_query(self, items: list[Item[PiItemSettings]], start: datetime, end: datetime) -> datetime | None:
        """Read every item over ``[start, end]`` in one request."""
        answer, values = await self.read(_body(items, start, end))
        for line in answer.logs:
            self.context.logger.warning("agent log", message=line)
        if not values:
            self.context.logger.debug("no values", items=len(items), start=iso_ms(start), end=iso_ms(end))
            return None
        instant = max_instant(answer, values)  # checked before the hand-over: a bad one stops the read
        await self.sink.add_values(values, items=[item.id for item in items])
        self.context.logger.debug("values handed over", values=len(values), records=answer.record_count)
        return instant if instant is not None and instant > start else None
