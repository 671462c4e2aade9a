"""A South connector in its real worker runner, without the engine: for reconnection tests.

``AckingChannel`` stands for the engine side of a South worker: it keeps the frames the runner sends and
acknowledges each content at once (every North stored it). ``ticking`` fires a scan mode every 20 ms as the
engine's scheduler would; ``until`` polls a condition (its timeout only guards a hang).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import msgspec

from engine.ipc import Ack, Content, Log, Message
from engine.worker.channel import Channel
from engine.worker.south import SouthRunner

__all__ = ["AckingChannel", "ticking", "until"]


class AckingChannel(Channel):
    """Keeps the frames a runner sends and acknowledges each content at once."""

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.runner: SouthRunner | None = None

    def send(self, message: Message) -> None:
        self.sent.append(message)
        if isinstance(message, Content) and self.runner is not None:
            asyncio.get_running_loop().call_soon(self.runner.sink.on_ack, Ack(seq=message.seq))

    async def drain(self) -> None:
        return None

    def events(self) -> list[str]:
        """The log events the runner sent, in order."""
        return [message.event for message in self.sent if isinstance(message, Log)]

    def logs(self, event: str) -> list[dict[str, Any]]:
        """The fields of every log record of ``event``."""
        return [message.fields for message in self.sent if isinstance(message, Log) and message.event == event]

    def values(self, point: str | None = None) -> list[str]:
        """The values handed over (of ``point`` only, when given), in order."""
        found: list[str] = []
        for message in self.sent:
            if isinstance(message, Content):
                for value in msgspec.json.decode(message.payload or b"[]"):
                    if point is None or value["pointId"] == point:
                        found.append(value["data"]["value"])
        return found


async def until(condition: Callable[[], bool], within_s: float = 20.0) -> None:
    """Poll ``condition`` (the timeout only guards a hang; nothing is asserted on timings)."""
    async with asyncio.timeout(within_s):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def ticking(runner: SouthRunner, scan_mode_id: str) -> AsyncIterator[None]:
    """Fire the scan mode every 20 ms, as the engine's scheduler would."""

    async def tick() -> None:
        while True:
            runner.on_trigger(scan_mode_id)
            await asyncio.sleep(0.02)

    async with asyncio.TaskGroup() as group:
        ticker = group.create_task(tick(), name="test:ticker")
        try:
            yield
        finally:
            ticker.cancel()
