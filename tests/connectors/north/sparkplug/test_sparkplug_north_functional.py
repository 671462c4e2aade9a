"""Sparkplug B North against the machine's Mosquitto: a test subscriber decodes every message it publishes."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import gmqtt
import msgspec
import pytest
from fakes import RecordingLogger
from servers.mosquitto import MACHINE_PORT, machine_broker_url

from connectors.base import ConnectorContext
from connectors.common.sparkplug import DataType, decode_payload, metric_value, new_payload
from connectors.north.sparkplug import SparkplugNorth
from connectors.north.sparkplug.connector import REBIRTH_METRIC
from connectors.north.sparkplug.manifest import SparkplugNorthSettings


class SparkplugHost:
    """A host application: records every message of a group, decoded, and keeps the alias map of the births."""

    def __init__(self, group: str) -> None:
        self.group = group
        self.messages: list[tuple[str, Any]] = []
        self.arrived = asyncio.Event()
        self.client = gmqtt.Client(f"host-{uuid.uuid4().hex[:8]}")
        self.client.on_message = self._on_message
        self.subscribed = asyncio.Event()
        self.client.on_subscribe = lambda *_: self.subscribed.set()

    def _on_message(self, client: Any, topic: str, payload: bytes, qos: int, properties: dict[str, Any]) -> int:
        self.messages.append((topic.split("/")[2], decode_payload(payload)))
        self.arrived.set()
        return 0

    async def start(self) -> SparkplugHost:
        await self.client.connect("127.0.0.1", MACHINE_PORT)
        self.client.subscribe(f"spBv1.0/{self.group}/#", qos=1)
        async with asyncio.timeout(10):
            await self.subscribed.wait()
        return self

    async def wait(self, predicate: Any) -> None:
        async with asyncio.timeout(15):
            while not predicate():
                self.arrived.clear()
                await self.arrived.wait()

    def of(self, kind: str) -> list[Any]:
        return [payload for message_type, payload in self.messages if message_type == kind]

    def values(self) -> list[tuple[str, Any, int]]:
        """(metric name, value, timestamp) of every DDATA metric, names found through the births' aliases."""
        names: dict[int, tuple[str, int]] = {}
        found = []
        for kind, payload in self.messages:
            if kind == "DBIRTH":
                names = {m.alias: (m.name, m.datatype) for m in payload.metrics}
            elif kind == "DDATA":
                for m in payload.metrics:
                    assert not m.name, "DDATA carries aliases only"
                    name, datatype = names[m.alias]
                    assert m.datatype == datatype
                    found.append((name, metric_value(m, datatype), m.timestamp))
        return found

    def command(self, edge: str, rebirth: bool) -> None:
        payload = new_payload(0, None)
        payload.metrics.add(name=REBIRTH_METRIC, datatype=DataType.BOOLEAN, boolean_value=rebirth)
        self.client.publish(f"spBv1.0/{self.group}/NCMD/{edge}", payload.SerializeToString(), qos=1)

    async def stop(self) -> None:
        await self.client.disconnect()


@pytest.fixture
async def host() -> AsyncIterator[SparkplugHost]:
    machine_broker_url()
    started = await SparkplugHost(f"test-{uuid.uuid4().hex[:10]}").start()
    yield started
    await started.stop()


def make(host: SparkplugHost, folder: Path, **settings: Any) -> SparkplugNorth:
    wire = {"url": machine_broker_url(), "groupId": host.group, "edgeNodeId": "edge1", "deviceId": "dev1", **settings}
    context = ConnectorContext(
        id=uuid.uuid4().hex[:8], name="sp", logger=RecordingLogger(), base_folder=folder, data_folder=folder
    )
    return SparkplugNorth(msgspec.convert(wire, SparkplugNorthSettings), context)


def entry(*rows: tuple[str, str, Any]) -> bytes:
    return json.dumps([{"pointId": p, "timestamp": t, "data": {"value": v}} for p, t, v in rows]).encode()


def check_sequence(host: SparkplugHost) -> None:
    """Every message but NDEATH carries seq; NBIRTH resets it to 0, each next one is +1 modulo 256."""
    expected: int | None = None
    for kind, payload in host.messages:
        if kind in ("NCMD", "DCMD"):
            continue  # the host's own commands
        if kind == "NDEATH":
            assert not payload.HasField("seq")
            continue
        if kind == "NBIRTH":
            expected = 0
        assert payload.seq == expected, f"{kind} seq {payload.seq}, expected {expected}"
        expected = (payload.seq + 1) % 256


async def test_births_aliases_and_sequence_numbers(host: SparkplugHost, tmp_path: Path) -> None:
    north = make(host, tmp_path, metricsPerMessage=1)
    await north.start()
    try:
        await north.handle_values_json(
            entry(("temp", "2026-01-01T00:00:00Z", 21.5), ("on", "2026-01-01T00:00:00Z", True))
        )
        count = [("count", f"2026-01-01T00:00:{n % 60:02d}.{n // 60:03d}Z", n - 150) for n in range(300)]
        await north.handle_values_json(entry(*count))  # a new metric: rebirth, then 300 DDATA: seq wraps past 255
        await north.handle_values_json(
            entry(("label", "2026-01-01T00:00:05Z", "ok"), ("temp", "2026-01-01T00:00:05Z", 22.0))
        )
        await host.wait(lambda: len(host.values()) == 304)
    finally:
        await north.stop()
        await north.stop()
    await host.wait(lambda: len(host.of("NDEATH")) == 1)
    births = host.of("NBIRTH")
    assert len(births) == 4  # start (no metric), temp+on, count, label
    assert {m.name: m.long_value for m in births[0].metrics if m.name == "bdSeq"} == {"bdSeq": north.bd_seq}
    assert [m.name for m in births[0].metrics] == ["bdSeq", REBIRTH_METRIC]
    last_birth = host.of("DBIRTH")[-1]
    assert {m.name: (m.alias, m.datatype) for m in last_birth.metrics} == {
        "temp": (1, DataType.DOUBLE),
        "on": (2, DataType.BOOLEAN),
        "count": (3, DataType.INT64),
        "label": (4, DataType.STRING),
    }
    assert sum(1 for _ in host.messages) > 256
    check_sequence(host)
    values = host.values()
    assert values[:2] == [("temp", 21.5, 1767225600000), ("on", True, 1767225600000)]
    assert [v for name, v, _ in values if name == "count"] == list(range(-150, 150))
    assert values[-2:] == [("label", "ok", 1767225605000), ("temp", 22.0, 1767225605000)]
    assert host.of("NDEATH")[0].metrics[0].long_value == north.bd_seq


async def test_a_host_application_asks_for_a_rebirth(host: SparkplugHost, tmp_path: Path) -> None:
    north = make(host, tmp_path)
    await north.start()
    try:
        await north.handle_values_json(entry(("temp", "2026-01-01T00:00:00Z", 21.5)))
        await host.wait(lambda: len(host.of("DBIRTH")) == 2)
        host.command("edge1", rebirth=True)
        await host.wait(lambda: len(host.of("DBIRTH")) == 3)
        await north.handle_values_json(entry(("temp", "2026-01-01T00:00:01Z", 23.0)))
        await host.wait(lambda: len(host.values()) == 2)
    finally:
        await north.stop()
    rebirth = host.of("DBIRTH")[2]
    assert [(m.name, m.alias, m.double_value) for m in rebirth.metrics] == [("temp", 1, 21.5)]
    check_sequence(host)


async def test_bd_seq_goes_up_at_each_connection_and_survives_the_process(host: SparkplugHost, tmp_path: Path) -> None:
    seen = []
    for _ in range(3):
        north = make(host, tmp_path)
        await north.start()
        seen.append(north.bd_seq)
        await north.stop()
    assert seen == [seen[0], (seen[0] + 1) % 256, (seen[0] + 2) % 256]
    assert (tmp_path / "sparkplug-bdseq").read_text() == str(seen[-1])
