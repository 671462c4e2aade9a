"""MQTT North against the machine's Mosquitto and a private one: what it publishes, a subscriber receives."""

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
from servers.mosquitto import MACHINE_PORT, clear_retained, machine_broker_url, private_mosquitto, topic_prefix

from connectors.base import ConnectorContext
from connectors.errors import ConnectorNotReady, SendError
from connectors.north.mqtt import MqttNorth
from connectors.north.mqtt.connector import PUBLISH_WINDOW
from connectors.north.mqtt.manifest import MqttNorthSettings


@pytest.fixture
def machine_broker() -> str:
    return machine_broker_url()


@pytest.fixture
def prefix() -> str:
    return topic_prefix()


class Subscriber:
    """An independent gmqtt client that records what it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes, int, bool]] = []
        self.client = gmqtt.Client(f"sub-{uuid.uuid4().hex[:8]}")
        self.client.on_message = self._on_message
        self.subscribed = asyncio.Event()
        self.client.on_subscribe = lambda *_: self.subscribed.set()

    def _on_message(self, client: Any, topic: str, payload: bytes, qos: int, properties: dict[str, Any]) -> int:
        self.received.append((topic, payload, qos, bool(properties.get("retain"))))
        return 0

    async def start(self, port: int, topic: str) -> Subscriber:
        await self.client.connect("127.0.0.1", port)
        self.client.subscribe(topic, qos=2)
        async with asyncio.timeout(10):
            await self.subscribed.wait()
        return self

    async def wait_for(self, n: int) -> None:
        async with asyncio.timeout(10):
            while len(self.received) < n:  # noqa: ASYNC110
                await asyncio.sleep(0.01)

    async def stop(self) -> None:
        await self.client.disconnect()


@pytest.fixture
async def subscribers() -> AsyncIterator[list[Subscriber]]:
    started: list[Subscriber] = []
    yield started
    for subscriber in started:
        await subscriber.stop()


def north(url: str, tmp_path: Path, lost: list[str] | None = None, **settings: Any) -> MqttNorth:
    context = ConnectorContext(
        id=f"oibus-{uuid.uuid4().hex[:12]}",
        name="mqtt north",
        logger=RecordingLogger(),
        base_folder=tmp_path,
        data_folder=tmp_path,
        connection_lost=(lost if lost is not None else []).append,
    )
    return MqttNorth(msgspec.convert({"url": url, **settings}, MqttNorthSettings, strict=False), context)


@pytest.mark.parametrize("qos", ["0", "1", "2"])
async def test_published_messages_reach_a_subscriber(
    machine_broker: str, tmp_path: Path, prefix: str, subscribers: list[Subscriber], qos: str
) -> None:
    subscriber = await Subscriber().start(MACHINE_PORT, f"{prefix}/#")
    subscribers.append(subscriber)
    connector = north(machine_broker, tmp_path, qos=qos)
    await connector.start()
    try:
        content = [
            {"topic": f"{prefix}/setpoint/valve", "payload": '{"value": 42, "timestamp": "2026-01-01T00:00:00.000Z"}'},
            {"topic": f"{prefix}/setpoint/pump", "payload": {"value": True}},  # not a string: sent as JSON
        ]
        await connector.handle_content("mqtt", json.dumps(content).encode())
        await subscriber.wait_for(2)
    finally:
        await connector.stop()
    assert sorted((topic, payload) for topic, payload, _, _ in subscriber.received) == [
        (f"{prefix}/setpoint/pump", b'{"value":true}'),
        (f"{prefix}/setpoint/valve", b'{"value": 42, "timestamp": "2026-01-01T00:00:00.000Z"}'),
    ]
    assert {message_qos for _, _, message_qos, _ in subscriber.received} == {int(qos)}


async def test_a_large_qos1_batch_returns_once_the_broker_confirmed_it(
    machine_broker: str, tmp_path: Path, prefix: str, subscribers: list[Subscriber]
) -> None:
    subscriber = await Subscriber().start(MACHINE_PORT, f"{prefix}/#")
    subscribers.append(subscriber)
    connector = north(machine_broker, tmp_path, qos="1")
    await connector.start()
    count = PUBLISH_WINDOW * 3 + 7  # more than one window of unconfirmed packet ids
    try:
        await connector.handle_content(
            "mqtt", json.dumps([{"topic": f"{prefix}/n", "payload": str(n)} for n in range(count)]).encode()
        )
        assert connector._session is not None and connector._session.unconfirmed == 0
        await subscriber.wait_for(count)
    finally:
        await connector.stop()
    assert sorted(int(payload) for _, payload, _, _ in subscriber.received) == list(range(count))


async def test_retain_setting_and_element_override(
    machine_broker: str, tmp_path: Path, prefix: str, subscribers: list[Subscriber]
) -> None:
    connector = north(machine_broker, tmp_path, qos="1", retain=True)
    await connector.start()
    try:
        content = [
            {"topic": f"{prefix}/kept", "payload": "last known"},
            {"topic": f"{prefix}/not-kept", "payload": "transient", "retain": False},
        ]
        await connector.handle_content("mqtt", json.dumps(content).encode())
        # A subscriber arriving later gets the retained message only.
        late = await Subscriber().start(MACHINE_PORT, f"{prefix}/#")
        subscribers.append(late)
        await late.wait_for(1)
        await asyncio.sleep(0.2)  # Let a wrongly retained second message show up, if any.
        assert [(topic, payload, retained) for topic, payload, _, retained in late.received] == [
            (f"{prefix}/kept", b"last known", True)
        ]
    finally:
        await connector.stop()
        await asyncio.to_thread(clear_retained, MACHINE_PORT, f"{prefix}/kept")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"not json", "not JSON"),
        (b'{"topic": "a"}', r"not \[\{topic, payload\}\]"),
        (b'[{"payload": "x"}]', r"not \[\{topic, payload\}\]"),
        (b'[{"topic": "ok", "payload": "x"}, {"topic": "a/+", "payload": "x"}]', r"\[1\]\.topic"),
        (b'[{"topic": "", "payload": "x"}]', r"\[0\]\.topic"),
    ],
)
async def test_bad_content_fails_the_entry_naming_the_problem(
    machine_broker: str, tmp_path: Path, content: bytes, problem: str
) -> None:
    connector = north(machine_broker, tmp_path)
    await connector.start()
    try:
        with pytest.raises(SendError, match=problem) as caught:
            await connector.handle_content("mqtt", content)
        assert not caught.value.retry_forever
    finally:
        await connector.stop()


async def test_a_lost_broker_is_reported_and_makes_entries_wait(tmp_path: Path, prefix: str) -> None:
    lost: list[str] = []
    with private_mosquitto(tmp_path / "broker") as broker:
        connector = north(broker.url, tmp_path, lost, qos="1")
        await connector.start()
        try:
            await connector.handle_content("mqtt", json.dumps([{"topic": f"{prefix}/a", "payload": "1"}]).encode())
            await asyncio.to_thread(broker.stop)
            async with asyncio.timeout(10):
                while not lost:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
            assert lost == [f"connection to broker 127.0.0.1:{broker.port} lost"]
            with pytest.raises(SendError) as caught:
                await connector.handle_content("mqtt", json.dumps([{"topic": f"{prefix}/a", "payload": "2"}]).encode())
            assert caught.value.retry_forever
        finally:
            await connector.stop()
        with pytest.raises(ConnectorNotReady, match="unreachable"):
            await north(broker.url, tmp_path).test_connection()


async def test_connection_test_with_credentials(tmp_path: Path) -> None:
    with private_mosquitto(tmp_path / "broker", users={"writer": "pw"}) as broker:
        good = {"type": "basic", "username": "writer", "password": "pw"}
        await north(broker.url, tmp_path, authentication=good).test_connection()
        with pytest.raises(ConnectorNotReady, match=r"(?i)refused the connection.*not authori"):
            await north(broker.url, tmp_path, authentication={**good, "password": "bad"}).test_connection()
