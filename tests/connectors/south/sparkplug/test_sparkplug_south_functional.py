"""Sparkplug South against the machine's Mosquitto, our Sparkplug North as the edge node.

Hand-built payloads, published by a plain MQTT client, cover what the North never does (a sequence gap).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import gmqtt
import msgspec
import pytest
from fakes import RecordingLogger, RecordingSink
from servers.mosquitto import MACHINE_PORT, machine_broker_url
from sparkplug_payloads import payload

from connectors.base import ConnectorContext, Item
from connectors.common.sparkplug import DataType, decode_payload
from connectors.north.sparkplug import SparkplugNorth
from connectors.north.sparkplug.manifest import SparkplugNorthSettings
from connectors.south.sparkplug import SparkplugSouth
from connectors.south.sparkplug.connector import REBIRTH_METRIC
from connectors.south.sparkplug.manifest import SparkplugItemSettings, SparkplugSettings
from engine.cache.south import SouthCacheDB


@pytest.fixture
def group() -> str:
    machine_broker_url()
    return f"i15b-{uuid.uuid4().hex[:10]}"


class Parts:
    """Builds connectors on the machine's broker and stops them at the end."""

    def __init__(self, tmp_path: Path, group: str) -> None:
        self.tmp_path = tmp_path
        self.group = group
        self.cache_db = SouthCacheDB(tmp_path / "cache.db")
        self.to_stop: list[Any] = []

    def context(self, name: str) -> ConnectorContext:
        folder = self.tmp_path / name
        folder.mkdir(exist_ok=True)
        return ConnectorContext(
            id=f"{name}-{uuid.uuid4().hex[:8]}",
            name=name,
            logger=RecordingLogger(),
            base_folder=folder,
            data_folder=folder,
        )

    async def south(self, sink: RecordingSink, **settings: Any) -> SparkplugSouth:
        converted = msgspec.convert({"url": machine_broker_url(), **settings}, SparkplugSettings)
        context = self.context("south")
        south = SparkplugSouth(converted, context, sink, self.cache_db.for_south(context.id))
        await south.start()
        self.to_stop.append(south)
        filters = msgspec.convert({"groupId": self.group}, SparkplugItemSettings)
        await south.subscribe([Item("item1", "all", True, filters)])
        return south

    async def north(self, **settings: Any) -> SparkplugNorth:
        wire = {"url": machine_broker_url(), "groupId": self.group, "edgeNodeId": "edge1", "deviceId": "dev1"}
        north = SparkplugNorth(msgspec.convert({**wire, **settings}, SparkplugNorthSettings), self.context("north"))
        await north.start()
        self.to_stop.append(north)
        return north

    async def close(self) -> None:
        for connector in reversed(self.to_stop):
            await connector.stop()
        self.cache_db.close()


@pytest.fixture
async def parts(tmp_path: Path, group: str) -> AsyncIterator[Parts]:
    made = Parts(tmp_path, group)
    yield made
    await made.close()


def entry(rows: list[tuple[str, int, Any]]) -> bytes:
    """A cache entry of time-values: (point, ms after 2026-01-01, value)."""
    return json.dumps(
        [
            {
                "pointId": p,
                "timestamp": f"2026-01-01T00:{ms // 60000:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}Z",
                "data": {"value": v},
            }
            for p, ms, v in rows
        ]
    ).encode()


def point_values(sink: RecordingSink) -> list[tuple[str, str, Any]]:
    return [(v["pointId"], v["timestamp"], v["data"]["value"]) for v in sink.values]


async def until(sink: RecordingSink, predicate: Callable[[], bool], within_s: float = 30.0) -> None:
    """Wait until ``predicate()`` holds, checked at each hand-over."""
    async with asyncio.timeout(within_s):
        while not predicate():
            await sink.wait_for(sink.count + 1, within_s=within_s)


def stamp(ms: int) -> str:
    return f"2026-01-01T00:{ms // 60000:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}Z"


async def test_what_our_north_publishes_arrives_decoded(parts: Parts) -> None:
    sink = RecordingSink()
    south = await parts.south(sink, maxNumberOfValues=100, flushMessageTimeout=50)
    north = await parts.north(metricsPerMessage=7)
    kinds: list[tuple[str, Callable[[int], Any]]] = [
        ("temp", lambda n: n / 4),
        ("count", lambda n: n - 500),
        ("on", lambda n: n % 2 == 0),
        ("label", str),
    ]
    rows = [(name, n, make(n)) for n in range(1000) for name, make in kinds]
    for start in range(0, len(rows), 400):
        await north.handle_values_json(entry(rows[start : start + 400]))
    prefix = f"{parts.group}/edge1/dev1/"
    expected = [(prefix + name, stamp(n), v) for name, n, v in rows]
    await until(sink, lambda: expected[-1] in point_values(sink))
    got = point_values(sink)
    # The DBIRTH (one, when the first batch brought the 4 metrics) states each metric's last value of that
    # batch before the DDATA carry them: drop the first occurrence of the repeated values, the DDATA remain.
    assert len(got) == len(expected) + 4
    data = list(got)
    for repeat in [value for value in dict.fromkeys(got) if got.count(value) == 2]:
        data.remove(repeat)
    assert data == expected
    assert south.rebirth_requests == 0
    assert all(items == ["item1"] for items in sink.value_items)


async def test_a_south_started_after_the_births_asks_for_a_rebirth(parts: Parts) -> None:
    north = await parts.north()
    await north.handle_values_json(entry([("temp", 0, 1.5), ("on", 0, True)]))
    sink = RecordingSink()
    south = await parts.south(sink, flushMessageTimeout=20)
    await north.handle_values_json(entry([("temp", 1000, 2.5), ("on", 1000, False)]))  # DDATA before any birth seen
    await until(sink, lambda: (f"{parts.group}/edge1/dev1/temp", stamp(1000), 2.5) in point_values(sink))
    assert south.rebirth_requests == 1
    requested = south.context.logger.find("sparkplug rebirth requested")  # type: ignore[attr-defined]
    assert requested == [{"group": parts.group, "edgeNode": "edge1", "reason": "DDATA before any NBIRTH of the node"}]
    # the rebirth states the last values; later data decode through its aliases
    assert (f"{parts.group}/edge1/dev1/temp", "2026-01-01T00:00:01.000Z", 2.5) in point_values(sink)
    await north.handle_values_json(entry([("temp", 2000, 3.5)]))
    await until(sink, lambda: point_values(sink)[-1][1] == stamp(2000))
    assert point_values(sink)[-1] == (f"{parts.group}/edge1/dev1/temp", "2026-01-01T00:00:02.000Z", 3.5)
    assert south.rebirth_requests == 1


class EdgeNode:
    """A plain MQTT client publishing hand-built payloads, and recording the commands sent to its node."""

    def __init__(self, group: str) -> None:
        self.group = group
        self.commands: list[Any] = []
        self.arrived = asyncio.Event()
        self.client = gmqtt.Client(f"edge-{uuid.uuid4().hex[:8]}")
        self.client.on_message = self._on_message

    def _on_message(self, client: Any, topic: str, data: bytes, qos: int, properties: dict[str, Any]) -> int:
        self.commands.append(decode_payload(data))
        self.arrived.set()
        return 0

    async def start(self) -> EdgeNode:
        subscribed = asyncio.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        await self.client.connect("127.0.0.1", MACHINE_PORT)
        self.client.subscribe(f"spBv1.0/{self.group}/NCMD/n1", qos=1)
        async with asyncio.timeout(10):
            await subscribed.wait()
        return self

    def send(self, kind: str, data: bytes, device: str | None = "d1") -> None:
        topic = f"spBv1.0/{self.group}/{kind}/n1" + (f"/{device}" if device and kind[0] == "D" else "")
        self.client.publish(topic, data, qos=1)

    async def wait_command(self, count: int) -> None:
        async with asyncio.timeout(15):
            while len(self.commands) < count:
                self.arrived.clear()
                await self.arrived.wait()


async def test_a_sequence_gap_publishes_a_rebirth_request_and_values_still_arrive(parts: Parts) -> None:
    sink = RecordingSink()
    south = await parts.south(sink, flushMessageTimeout=20)
    edge = await EdgeNode(parts.group).start()
    try:
        edge.send("NBIRTH", payload(0, bd_seq=1), None)
        edge.send("DBIRTH", payload(1, ("temp", 1, DataType.DOUBLE, 1.0)))
        edge.send("DDATA", payload(2, (None, 1, DataType.DOUBLE, 2.0)))
        edge.send("DDATA", payload(4, (None, 1, DataType.DOUBLE, 4.0)))  # seq 3 lost
        await edge.wait_command(1)
        await sink.wait_for(3, within_s=15)
    finally:
        await edge.client.disconnect()
    assert [v["data"]["value"] for v in sink.values] == [1.0, 2.0, 4.0]
    command = edge.commands[0]
    assert [(m.name, m.datatype, m.boolean_value) for m in command.metrics] == [
        (REBIRTH_METRIC, DataType.BOOLEAN, True)
    ]
    assert south.rebirth_requests == 1
    reasons = [r["reason"] for r in south.context.logger.find("sparkplug rebirth requested")]  # type: ignore[attr-defined]
    assert reasons == ["sequence gap: DDATA seq 4, expected 3"]


async def test_without_rebirth_requests_the_lost_state_is_logged_only(parts: Parts) -> None:
    sink = RecordingSink()
    south = await parts.south(sink, flushMessageTimeout=20, requestRebirth=False)
    edge = await EdgeNode(parts.group).start()
    try:
        edge.send("DDATA", payload(7, (None, 1, DataType.DOUBLE, 2.0)))
        edge.send("NBIRTH", payload(0, ("x", 3, DataType.INT64, 9), bd_seq=1), None)
        await sink.wait_for(1, within_s=15)
    finally:
        await edge.client.disconnect()
    assert edge.commands == [] and south.rebirth_requests == 0
    lost = south.context.logger.find("sparkplug node state lost")  # type: ignore[attr-defined]
    assert lost == [{"group": parts.group, "edgeNode": "n1", "reason": "DDATA before any NBIRTH of the node"}]
    assert point_values(sink) == [(f"{parts.group}/n1/x", "2026-01-01T00:00:00.000Z", 9)]
