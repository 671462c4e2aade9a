"""MQTT South against real brokers: the machine's Mosquitto, and private ones for auth, TLS and restarts."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from engine_process import closed_port
from fakes import RecordingLogger, RecordingSink
from servers.mosquitto import (
    MACHINE_PORT,
    Mosquitto,
    clear_retained,
    machine_broker_url,
    make_pki,
    private_mosquitto,
    publish,
    topic_prefix,
)

from connectors.base import ConnectorContext, Item
from connectors.errors import ConnectorNotReady, ConnectorTimeout
from connectors.south.mqtt import MqttSouth
from connectors.south.mqtt import connector as south_module
from connectors.south.mqtt.manifest import MqttItemSettings, MqttSettings
from engine.cache.south import SouthCacheDB


@pytest.fixture
def machine_broker() -> str:
    return machine_broker_url()


@pytest.fixture
def prefix() -> str:
    return topic_prefix()


class Harness:
    """Builds MQTT South connectors the way the runner does, and tracks them to stop them at the end."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.cache_db = SouthCacheDB(tmp_path / "cache.db")
        self.started: list[MqttSouth] = []
        self.lost: list[str] = []

    def south(
        self, url: str, sink: RecordingSink | None = None, *, client_id: str | None = None, **settings: Any
    ) -> MqttSouth:
        converted = msgspec.convert({"url": url, **settings}, MqttSettings, strict=False)
        connector_id = client_id or f"oibus-{uuid.uuid4().hex[:12]}"
        context = ConnectorContext(
            id=connector_id,
            name="mqtt",
            logger=RecordingLogger(),
            base_folder=self.tmp_path,
            data_folder=self.tmp_path,
            connection_lost=self.lost.append,
        )
        return MqttSouth(converted, context, sink or RecordingSink(), self.cache_db.for_south(connector_id))

    async def running(self, south: MqttSouth, items: list[Item[Any]]) -> MqttSouth:
        await south.start()
        self.started.append(south)
        await south.subscribe(items)
        return south

    async def close(self) -> None:
        for south in self.started:
            await south.stop()
        self.cache_db.close()


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    built = Harness(tmp_path)
    yield built
    await built.close()


def item(topic: str, name: str = "sensor", item_id: str | None = None, **settings: Any) -> Item[Any]:
    return Item(
        id=item_id or name,
        name=name,
        enabled=True,
        settings=msgspec.convert({"topic": topic, **settings}, MqttItemSettings, strict=False),
        scan_mode_id="subscription",
    )


async def publish_async(port: int, topic: str, lines: list[str], **options: Any) -> None:
    await asyncio.to_thread(publish, port, topic, lines, **options)


def logged(south: MqttSouth) -> RecordingLogger:
    logger = south.context.logger
    assert isinstance(logger, RecordingLogger)
    return logger


@pytest.mark.parametrize("qos", ["0", "1", "2"])
async def test_every_message_arrives_batched_at_each_qos(
    harness: Harness, machine_broker: str, prefix: str, qos: str
) -> None:
    sink = RecordingSink()
    south = harness.south(machine_broker, sink, qos=qos, maxNumberOfMessages=50, flushMessageTimeout=50)
    await harness.running(south, [item(f"{prefix}/counter", valueType="number")])
    await publish_async(MACHINE_PORT, f"{prefix}/counter", [str(n) for n in range(300)], qos=int(qos))
    await sink.wait_for(300, within_s=20)
    assert sorted(v["data"]["value"] for v in sink.values) == list(range(300))
    assert {v["pointId"] for v in sink.values} == {"sensor"}
    assert len(sink.value_items) < 300, "messages are handed over in batches"
    assert all(items == ["sensor"] for items in sink.value_items)


async def test_wildcard_topics_route_each_message_to_its_item(
    harness: Harness, machine_broker: str, prefix: str
) -> None:
    sink = RecordingSink()
    south = harness.south(machine_broker, sink, flushMessageTimeout=50)
    items = [
        item(f"{prefix}/+/temperature", "temperatures", valueType="number"),
        item(f"{prefix}/line1/#", "line1", valueType="string"),
        item(f"{prefix}/line2/status", "line2 status", valueType="string"),
    ]
    await harness.running(south, items)
    await publish_async(MACHINE_PORT, f"{prefix}/boiler/temperature", ["21.5"])
    await publish_async(MACHINE_PORT, f"{prefix}/line1/speed/actual", ["fast"])
    await publish_async(MACHINE_PORT, f"{prefix}/line2/status", ["running"])
    await publish_async(MACHINE_PORT, f"{prefix}/line2/other", ["ignored"])  # subscribed by nobody
    await sink.wait_for(3, within_s=10)
    assert sorted((v["pointId"], v["data"]["value"]) for v in sink.values) == [
        ("line1", "fast"),
        ("line2 status", "running"),
        ("temperatures", 21.5),
    ]


async def test_json_payloads_become_time_values_with_the_item_mapping(
    harness: Harness, machine_broker: str, prefix: str
) -> None:
    sink = RecordingSink()
    south = harness.south(machine_broker, sink, flushMessageTimeout=50)
    mapping = {
        "useArray": True,
        "dataArrayPath": "points",
        "valuePath": "measure.value",
        "pointIdOrigin": "payload",
        "pointIdPath": "ref",
        "timestampOrigin": "payload",
        "timestampPayload": {"timestampPath": "ts", "timestampType": "unix-epoch-ms"},
        "otherFields": [{"name": "quality", "path": "measure.quality"}],
    }
    await harness.running(south, [item(f"{prefix}/json", valueType="json", jsonPayload=mapping)])
    payload = {
        "points": [
            {"ref": "FT-101", "ts": 1_767_225_600_000, "measure": {"value": 3.25, "quality": "good"}},
            {"ref": "FT-102", "ts": 1_767_225_601_500, "measure": {"value": 7, "quality": "bad"}},
        ]
    }
    await publish_async(MACHINE_PORT, f"{prefix}/json", [json.dumps(payload), "not json at all"])
    await sink.wait_for(2, within_s=10)
    assert sink.values == [
        {"pointId": "FT-101", "timestamp": "2026-01-01T00:00:00.000Z", "data": {"value": 3.25, "quality": "good"}},
        {"pointId": "FT-102", "timestamp": "2026-01-01T00:00:01.500Z", "data": {"value": 7, "quality": "bad"}},
    ]
    # The bad payload is dropped (and acknowledged: retrying cannot help), and said once.
    await _until(lambda: logged(south).find("message dropped"))
    (dropped,) = logged(south).find("message dropped")
    assert dropped["item"] == "sensor" and "not JSON" in dropped["error"]


async def test_any_content_items_hand_over_upstream_raw_messages(
    harness: Harness, machine_broker: str, prefix: str
) -> None:
    sink = RecordingSink()
    south = harness.south(machine_broker, sink, flushMessageTimeout=50)
    await harness.running(south, [item(f"{prefix}/raw/#", "raw", "raw-id")])  # default valueType: any-content
    await publish_async(MACHINE_PORT, f"{prefix}/raw/a", ['{"free": "form"}', "plain text"])
    await sink.wait_for(1, within_s=10)
    records = [record for content in sink.contents for record in json.loads(content)]
    while len(records) < 2:
        await sink.wait_for(len(sink.contents) + 1, within_s=10)
        records = [record for content in sink.contents for record in json.loads(content)]
    assert [r["message"] for r in records] == ['{"free": "form"}', "plain text"]
    assert all(r["item"] == {"id": "raw-id", "name": "raw", "topic": f"{prefix}/raw/#"} for r in records)
    assert all(r["timestamp"].endswith("Z") for r in records)
    assert not sink.values


@pytest.mark.parametrize("qos", ["1", "2"])
async def test_messages_are_acknowledged_only_once_the_sink_returned(
    harness: Harness, machine_broker: str, prefix: str, qos: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(south_module, "FINAL_FLUSH_TIMEOUT_S", 0.2)
    client_id = f"oibus-{uuid.uuid4().hex[:12]}"
    held = RecordingSink(gate=asyncio.Event())  # never opened: add_values never returns
    topic = f"{prefix}/held"
    settings: dict[str, Any] = {"qos": qos, "persistent": True, "flushMessageTimeout": 50}
    first = harness.south(machine_broker, held, client_id=client_id, **settings)
    await harness.running(first, [item(topic, valueType="number")])
    await publish_async(MACHINE_PORT, topic, [str(n) for n in range(20)], qos=int(qos))
    await held.wait_in_flight(1, within_s=10)
    await first.stop()  # as a crash would: the hand-over never returned, so nothing was acknowledged

    sink = RecordingSink()
    second = harness.south(machine_broker, sink, client_id=client_id, **settings)
    await harness.running(second, [item(topic, valueType="number")])
    await sink.wait_for(20, within_s=10)
    assert sorted(v["data"]["value"] for v in sink.values) == list(range(20))

    # Those were acknowledged: a third session of the same client gets only what is published next.
    await second.stop()
    third_sink = RecordingSink()
    third = harness.south(machine_broker, third_sink, client_id=client_id, **settings)
    await harness.running(third, [item(topic, valueType="number")])
    await publish_async(MACHINE_PORT, topic, ["999"], qos=int(qos))
    await third_sink.wait_for(1, within_s=10)
    assert [v["data"]["value"] for v in third_sink.values] == [999]


async def test_a_refused_batch_is_kept_unacknowledged_and_retried(
    harness: Harness, machine_broker: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(south_module, "REFUSED_RETRY_INITIAL_S", 0.05)
    sink = RecordingSink(refuse=True)
    south = harness.south(machine_broker, sink, flushMessageTimeout=50)
    await harness.running(south, [item(f"{prefix}/full", valueType="number")])
    await publish_async(MACHINE_PORT, f"{prefix}/full", ["1", "2", "3"])
    await _until(lambda: sink.refused >= 2)
    sink.refuse = False
    await sink.wait_for(3, within_s=10)
    assert sorted(v["data"]["value"] for v in sink.values) == [1, 2, 3]
    assert logged(south).events("warning").count("messages kept: content refused by the engine") == 1
    await _until(lambda: "messages accepted again" in logged(south).events("info"))


async def test_qos0_reading_pauses_when_the_norths_fall_behind_and_nothing_is_dropped(
    harness: Harness, machine_broker: str, prefix: str
) -> None:
    gate = asyncio.Event()
    sink = RecordingSink(gate=gate)
    south = harness.south(machine_broker, sink, qos="0", maxNumberOfMessages=100, flushMessageTimeout=20)
    south._max_held = 200  # what max(20 x maxNumberOfMessages, 20000) is for a real flow
    await harness.running(south, [item(f"{prefix}/fast", valueType="number")])
    # 3000 messages of ~1 KB (a number padded with spaces): more than the socket reads ahead (64 KiB chunks).
    lines = [f"{n}{' ' * 1000}" for n in range(3000)]
    await publish_async(MACHINE_PORT, f"{prefix}/fast", lines, qos=0)
    await _until(lambda: "reading paused: the Norths do not keep up" in logged(south).events("warning"))
    assert south._held < 1000, "the rest waits at the broker, not in memory"
    gate.set()
    await sink.wait_for(3000, within_s=30)
    assert sorted(v["data"]["value"] for v in sink.values) == list(range(3000))
    assert "reading resumed" in logged(south).events("info")


async def test_item_test_reads_one_message(
    harness: Harness, machine_broker: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = f"{prefix}/retained"
    await asyncio.to_thread(publish, MACHINE_PORT, topic, ['{"value": 12.5}'], retain=True)
    try:
        sink = RecordingSink()
        tester = harness.south(machine_broker, sink)
        mapped = item(topic, valueType="json", jsonPayload={"valuePath": "value"})
        await tester.test_item(mapped, *_no_window())
        assert [v["data"]["value"] for v in sink.values] == [12.5]
        silent = item(f"{prefix}/silent", valueType="number")
        monkeypatch.setattr(south_module, "TEST_ITEM_TIMEOUT_S", 0.3)
        with pytest.raises(ConnectorTimeout, match="no message on topic"):
            await tester.test_item(silent, *_no_window())
    finally:
        await asyncio.to_thread(clear_retained, MACHINE_PORT, topic)


async def test_connection_test_names_the_broker_and_the_reason(harness: Harness, machine_broker: str) -> None:
    await harness.south(machine_broker).test_connection()
    with closed_port() as port, pytest.raises(ConnectorNotReady, match=rf"127\.0\.0\.1:{port} unreachable"):
        await harness.south(f"mqtt://127.0.0.1:{port}").test_connection()
    with pytest.raises(ConnectorNotReady, match="CA file"):
        await harness.south(
            "mqtts://127.0.0.1:1", authentication={"type": "none", "caFilePath": "/nonexistent/ca.pem"}
        ).test_connection()


@pytest.fixture
def basic_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    with private_mosquitto(tmp_path / "broker", users={"oibus": "s3cret"}) as broker:
        yield broker


async def test_basic_authentication(harness: Harness, basic_broker: Mosquitto, prefix: str) -> None:
    good = {"type": "basic", "username": "oibus", "password": "s3cret"}
    sink = RecordingSink()
    south = harness.south(basic_broker.url, sink, authentication=good, flushMessageTimeout=50)
    await harness.running(south, [item(f"{prefix}/auth", valueType="number")])
    await asyncio.to_thread(basic_broker.publish, f"{prefix}/auth", ["5"], username="oibus", password="s3cret")
    await sink.wait_for(1, within_s=10)
    assert sink.values[0]["data"]["value"] == 5

    wrong = {"type": "basic", "username": "oibus", "password": "wrong"}
    with pytest.raises(ConnectorNotReady, match=r"(?i)refused the connection.*(user name or password|not authori)"):
        await harness.south(basic_broker.url, authentication=wrong).test_connection()
    with pytest.raises(ConnectorNotReady, match="refused the connection"):
        await harness.south(basic_broker.url).test_connection()  # anonymous


async def test_client_certificate_over_tls(harness: Harness, tmp_path: Path, prefix: str) -> None:
    pki = make_pki(tmp_path / "pki")
    with private_mosquitto(tmp_path / "tls-broker", tls=pki, require_certificate=True) as broker:
        cert = {
            "type": "cert",
            "certFilePath": str(pki.client_cert),
            "keyFilePath": str(pki.client_key),
            "caFilePath": str(pki.ca),
        }
        sink = RecordingSink()
        south = harness.south(broker.url, sink, authentication=cert, rejectUnauthorized=True, flushMessageTimeout=50)
        await harness.running(south, [item(f"{prefix}/tls", valueType="number")])
        await asyncio.to_thread(
            broker.publish, f"{prefix}/tls", ["7"], cert=str(pki.client_cert), key=str(pki.client_key)
        )
        await sink.wait_for(1, within_s=10)
        assert sink.values[0]["data"]["value"] == 7

        # Without a client certificate, the broker refuses the TLS handshake.
        no_cert = {"type": "none", "caFilePath": str(pki.ca)}
        with pytest.raises(ConnectorNotReady, match=f"127.0.0.1:{broker.port}"):
            await harness.south(broker.url, authentication=no_cert).test_connection()
        # Verifying the broker without its CA fails, naming TLS.
        unknown_ca = {**cert, "caFilePath": None}
        with pytest.raises(ConnectorNotReady, match=r"TLS with broker.*(certificate verify failed|CERTIFICATE)"):
            await harness.south(broker.url, authentication=unknown_ca, rejectUnauthorized=True).test_connection()


async def test_a_broker_going_away_is_reported_once_and_qos1_messages_survive_its_restart(
    harness: Harness, tmp_path: Path, prefix: str
) -> None:
    with private_mosquitto(tmp_path / "broker") as broker:
        client_id = f"oibus-{uuid.uuid4().hex[:12]}"
        settings: dict[str, Any] = {"qos": "1", "persistent": True, "flushMessageTimeout": 50}
        sink = RecordingSink()
        south = harness.south(broker.url, sink, client_id=client_id, **settings)
        await harness.running(south, [item(f"{prefix}/r", valueType="number")])
        await asyncio.to_thread(broker.publish, f"{prefix}/r", ["1", "2"])
        await sink.wait_for(2, within_s=10)

        await asyncio.to_thread(broker.stop)
        await _until(lambda: bool(harness.lost))
        assert harness.lost == [f"connection to broker 127.0.0.1:{broker.port} lost"]
        await south.stop()
        with pytest.raises(ConnectorNotReady, match="unreachable"):
            await harness.south(broker.url, client_id=client_id, **settings).start()

        await asyncio.to_thread(broker.start)
        # Published while OIBus is away: the broker keeps them for the persistent session.
        await asyncio.to_thread(broker.publish, f"{prefix}/r", ["3", "4"])
        resumed = harness.south(broker.url, sink, client_id=client_id, **settings)
        await harness.running(resumed, [item(f"{prefix}/r", valueType="number")])
        await sink.wait_for(4, within_s=10)
        assert sorted(v["data"]["value"] for v in sink.values) == [1, 2, 3, 4]
        assert len(harness.lost) == 1


async def _until(condition: Any, within_s: float = 10.0) -> None:
    async with asyncio.timeout(within_s):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


def _no_window() -> tuple[Any, Any]:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    return now, now
