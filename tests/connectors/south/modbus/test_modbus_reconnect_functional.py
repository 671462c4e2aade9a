"""The Modbus South in its real runner: the server stops and comes back mid-flow, the gap is logged once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec
from servers.modbus import ModbusTestServer, modbus_server

from engine.ipc import Ack, Content, Log, Message, Start
from engine.worker.channel import Channel
from engine.worker.south import SouthRunner


class AckingChannel(Channel):
    """Keeps the frames a runner sends and acknowledges each content at once (every North stored it)."""

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.closed = False
        self.runner: SouthRunner | None = None

    def send(self, message: Message) -> None:
        self.sent.append(message)
        if isinstance(message, Content) and self.runner is not None:
            asyncio.get_running_loop().call_soon(self.runner.sink.on_ack, Ack(seq=message.seq))

    async def drain(self) -> None:
        return None

    def events(self) -> list[str]:
        return [message.event for message in self.sent if isinstance(message, Log)]

    def values(self) -> list[str]:
        found: list[str] = []
        for message in self.sent:
            if isinstance(message, Content):
                found.extend(value["data"]["value"] for value in msgspec.json.decode(message.payload or b"[]"))
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


async def test_the_server_restarting_mid_flow_is_one_logged_gap_and_a_recovery(tmp_path: Path) -> None:
    async with modbus_server() as server:
        await run_through_a_restart(server, tmp_path)


async def run_through_a_restart(server: ModbusTestServer, tmp_path: Path) -> None:
    await server.set("holding-register", 0, [1])
    dto: dict[str, Any] = {
        "id": "s1",
        "name": "plc",
        "type": "modbus",
        "settings": {"host": "127.0.0.1", "port": server.port, "networkTimeout": 2000},
        "items": [{"id": "i1", "name": "level", "enabled": True, "scanModeId": "fast", "settings": {"address": "0"}}],
    }
    channel = AckingChannel()
    runner = SouthRunner(channel, Start(role="south", connector=dto, data_dir=str(tmp_path / "data")))
    channel.runner = runner
    await runner.start_with_backoff()
    try:
        async with ticking(runner, "fast"):
            await until(lambda: channel.values().count("1") >= 3)
            await server.stop()
            await until(lambda: "connection lost, reconnecting" in channel.events())
            # Ticks keep coming while the server is away; they must neither log nor pile up.
            await asyncio.sleep(0.3)
            await server.start()
            await server.set("holding-register", 0, [2])
            await until(lambda: channel.values().count("2") >= 3)
    finally:
        await runner.stop()
    events = channel.events()
    assert events.count("connection lost, reconnecting") == 1
    assert events.count("connector started after retries") == 1
    assert "connector not ready, retrying" not in events
    assert "run failed" not in events
    assert "item not read" not in events
    lost = next(
        message for message in channel.sent if isinstance(message, Log) and message.event.startswith("connection lost")
    )
    assert f"127.0.0.1:{server.port}" in str(lost.fields.get("reason"))
