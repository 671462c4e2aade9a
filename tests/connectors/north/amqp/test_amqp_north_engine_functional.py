"""End to end: a million values posted to a real engine reach a RabbitMQ queue, none lost, duplicates recognisable.

Half-way, the North's worker is killed with SIGKILL and RabbitMQ is restarted (``rabbitmqctl stop_app`` /
``start_app``: a durable queue keeps its confirmed persistent messages). The test holds the broker exclusively
(``broker_lock``): the other RabbitMQ tests, holding it shared, wait instead of seeing the broker go away.

AMQP brokers do not deduplicate: the entry being published when the worker died, or when the broker went away, is
published again (the durability contract) and its messages already in the queue are then there twice. What makes
that harmless is the ``message_id``, a digest of the message: the same value sent again carries the same id. The
consumer here does what a consumer of this North must do, drops a message whose id it has seen, and checks that
the dropped copy is byte for byte the one it kept. After that, every value is there exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import time
from pathlib import Path

import aiormq
import aiormq.abc
import pytest
from engine_process import running_engine
from north_durability import EPOCH, create_north, post_kill_restart, wait_all_delivered
from servers.rabbitmq import HOST, PORT, broker_lock, declare_route, delete_route, ensure_running, restart_broker

from connectors.common.published import message_id

TOTAL = 1_000_000
BATCH = 10_000

pytestmark = pytest.mark.timeout(900)  # a million messages each way through a broker on the 2 shared cores


class Consumer:
    """Takes the queue's messages, acknowledged once recorded: one body per message id, repeats counted."""

    def __init__(self, queue: str) -> None:
        self.queue = queue
        self.bodies: dict[str, bytes] = {}
        self.repeats = 0
        self.unlike: list[str] = []
        """Ids that came again with another body (must stay empty)."""
        self.wrong_ids: list[str] = []
        """Ids that are not the digest of their message (must stay empty)."""

    def collect(self, idle_s: float = 2.0) -> int:
        """Take what the queue holds (until nothing came for ``idle_s``); the distinct messages so far."""
        # The broker restarting: what was acknowledged is recorded, the rest is delivered again.
        with contextlib.suppress(aiormq.exceptions.AMQPError, ConnectionError, OSError, TimeoutError):
            asyncio.run(asyncio.wait_for(self._collect(idle_s), 300))
        return len(self.bodies)

    async def _collect(self, idle_s: float) -> None:
        connection = await aiormq.connect(f"amqp://guest:guest@{HOST}:{PORT}/")
        try:
            channel = await connection.channel()
            await channel.basic_qos(prefetch_count=5000)
            arrived = asyncio.Event()
            unacked = 0

            async def take(message: aiormq.abc.DeliveredMessage) -> None:
                nonlocal unacked
                arrived.set()
                self._record(message.header.properties.message_id or "", message.body)
                unacked += 1
                if unacked >= 1000 and message.delivery_tag is not None:
                    unacked = 0
                    await channel.basic_ack(message.delivery_tag, multiple=True)

            consumer = await channel.basic_consume(self.queue, take, no_ack=False)
            while True:
                arrived.clear()
                try:
                    await asyncio.wait_for(arrived.wait(), idle_s)
                except TimeoutError:
                    break
            if consumer.consumer_tag is not None:
                await channel.basic_cancel(consumer.consumer_tag)
            if unacked:
                await channel.basic_ack(0, multiple=True)  # tag 0 with multiple: every one delivered so far
            await channel.close()
        finally:
            await connection.close()

    def _record(self, id_: str, body: bytes) -> None:
        kept = self.bodies.get(id_)
        if kept is None:
            if id_ != message_id(body):
                self.wrong_ids.append(id_)
            self.bodies[id_] = body
        else:
            self.repeats += 1
            if kept != body:
                self.unlike.append(id_)


def test_a_million_values_none_lost_none_duplicated_by_id_across_kill_9_and_a_broker_restart(tmp_path: Path) -> None:
    with broker_lock(exclusive=True):
        route = asyncio.run(declare_route())
        try:
            consumer = Consumer(route.queue)
            restarted: list[float] = []

            def restart() -> None:
                restart_broker()
                restarted.append(time.monotonic())  # in the chaos thread: its exception would only be a warning

            with running_engine(tmp_path / "data") as engine:
                settings = {"host": HOST, "port": PORT, "exchange": route.exchange, "routingKey": "plant.{pointId}"}
                north_id = create_north(engine, "amqp", settings, BATCH)
                post_kill_restart(engine, north_id, TOTAL, BATCH, restart)
                assert restarted, "RabbitMQ was not restarted"
                wait_all_delivered(consumer.collect, TOTAL, timeout_s=600)
            consumer.collect()  # anything sent after the last value arrived (there should be nothing new)
        finally:
            ensure_running()  # even when the test failed with the broker stopped
            asyncio.run(delete_route(route))
    assert not consumer.wrong_ids, consumer.wrong_ids[:3]
    assert not consumer.unlike, consumer.unlike[:3]
    values = {}
    for body in consumer.bodies.values():
        message = json.loads(body)
        values[message["data"]["value"]] = message
    assert len(values) == len(consumer.bodies) == TOTAL
    assert set(values) == set(range(TOTAL))
    for n in (0, 1, TOTAL // 2, TOTAL - 1):
        assert values[n]["pointId"] == f"p{n % 10}"
        assert datetime.datetime.fromisoformat(values[n]["timestamp"]) == EPOCH + datetime.timedelta(milliseconds=n)
    # Sent again: only what was in flight at the kill and at the restart (an entry each, a few at worst).
    assert consumer.repeats <= 4 * BATCH, consumer.repeats
    print(f"amqp kill -9 + broker restart: {TOTAL:,} values, {consumer.repeats:,} redelivered copies dropped by id")
