"""The OPC UA South in its runner while the server restarts: reconnection, one gap log, no history lost."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from asyncua import ua
from servers.opcua import HISTORY_NODE, OpcuaTestServer

from engine.ipc import Ack, Content, Log, Message, Start
from engine.worker.channel import Channel
from engine.worker.south import SouthRunner

pytestmark = pytest.mark.timeout(90)


class AckingChannel(Channel):
    """The engine side of a South worker: every content is acknowledged at once (every North stored it)."""

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.values: list[dict[str, Any]] = []
        self.runner: SouthRunner | None = None

    def send(self, message: Message) -> None:
        self.sent.append(message)
        if isinstance(message, Content) and message.payload is not None:
            self.values.extend(msgspec.json.decode(message.payload))
            runner = self.runner
            assert runner is not None
            asyncio.get_running_loop().call_soon(runner.sink.on_ack, Ack(seq=message.seq))

    async def drain(self) -> None:
        return None

    def events(self) -> list[str]:
        return [message.event for message in self.sent if isinstance(message, Log)]

    def points(self, name: str) -> list[str]:
        return [value["data"]["value"] for value in self.values if value["pointId"] == name]


async def until(condition: Callable[[], bool], within_s: float = 20) -> None:
    """Poll ``condition`` (the runner exposes no event for a restart; the timeout only guards a hang)."""
    async with asyncio.timeout(within_s):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


@pytest.fixture
async def server() -> AsyncIterator[OpcuaTestServer]:
    async with OpcuaTestServer(page_size=5) as started:
        yield started


async def test_server_restart_reconnects_resubscribes_and_loses_no_history(
    server: OpcuaTestServer, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    # History logged by the device before the run, and (below) while the server is down.
    before = [(now - timedelta(minutes=30) + timedelta(seconds=i), float(i)) for i in range(12)]
    await server.add_history(before)
    dto = {
        "id": "s1",
        "name": "Plant",
        "type": "opcua",
        "settings": {"url": server.url, "readTimeout": 2000, "flushMessageTimeout": 50},
        "items": [
            {"id": "h", "name": "hist", "enabled": True, "scanModeId": "poll", "maxReadInterval": 3600,
             "readDelay": 0, "settings": {"nodeId": HISTORY_NODE, "mode": "ha"}},
            {"id": "c", "name": "counter", "enabled": True, "scanModeId": "subscription",
             "settings": {"nodeId": "ns=2;s=Counter", "mode": "da"}},
        ],
    }  # fmt: skip
    channel = AckingChannel()
    runner = SouthRunner(channel, Start(role="south", connector=dto, data_dir=str(tmp_path)))
    channel.runner = runner
    try:
        await runner.start_with_backoff()
        runner.on_trigger("poll")
        # The 12 logged values, and the value the server historized at its start.
        await until(lambda: len(channel.points("hist")) == 13)
        await until(lambda: channel.points("counter") == ["0"])

        await server.stop()
        await until(lambda: "connection lost, reconnecting" in channel.events())
        # What the device logs while nobody can read it (newer than anything read so far).
        down = datetime.now(UTC)
        during = [(down + timedelta(milliseconds=10 * i), 100.0 + i) for i in range(7)]
        await server.add_history(during)
        await asyncio.sleep(1.5)  # a start attempt or two fail while the server is down
        await server.start()
        await until(lambda: "connector started after retries" in channel.events())

        await server.write("ns=2;s=Counter", 1.0, ua.VariantType.Double)
        await until(lambda: "1" in channel.points("counter"))
        runner.on_trigger("poll")
        await until(lambda: set(channel.points("hist")) >= {"100", "106"})
    finally:
        await runner.stop()
    history = channel.points("hist")
    assert set(history) == {str(int(v)) for _, v in before + during}
    events = channel.events()
    assert events.count("connection lost, reconnecting") == 1
    assert events.count("connector started after retries") == 1
    assert "connector not ready, retrying" not in events, "the gap is logged once, not at each failed attempt"
