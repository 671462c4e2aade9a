"""AMQP North against the machine's RabbitMQ (an exchange and queue of its own per test)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aio_pika
import msgspec
import pytest
from fakes import RecordingLogger
from servers.rabbitmq import HOST, PORT, Route, broker_lock, declare_route, delete_route, drain

from connectors.base import ConnectorContext
from connectors.common.published import message_id
from connectors.errors import ConnectorNotReady, SendError
from connectors.north.amqp import AmqpNorth
from connectors.north.amqp.manifest import AmqpNorthSettings


@pytest.fixture
async def route() -> AsyncIterator[Route]:
    with broker_lock():
        declared = await declare_route()
        yield declared
        await delete_route(declared)


def make(route: Route, **settings: Any) -> AmqpNorth:
    wire = {"host": "127.0.0.1", "exchange": route.exchange, "routingKey": "plant.{pointId}", **settings}
    context = ConnectorContext(
        id="n1", name="amqp", logger=RecordingLogger(), base_folder=Path("."), data_folder=Path(".")
    )
    return AmqpNorth(msgspec.convert(wire, AmqpNorthSettings), context)


def entry(*rows: tuple[str, str, Any]) -> bytes:
    return json.dumps([{"pointId": p, "timestamp": t, "data": {"value": v}} for p, t, v in rows]).encode()


async def test_each_value_is_one_confirmed_persistent_message_with_a_stable_id(route: Route) -> None:
    north = make(route)
    await north.start()
    try:
        batch = entry(("temp", "2026-01-01T00:00:00Z", 21.5), ("valve", "2026-01-01T00:00:01Z", "on"))
        await north.handle_values_json(batch)
        await north.handle_values_json(batch)  # sent again: same ids
    finally:
        await north.stop()
        await north.stop()
    messages = await drain(route.queue, 4, timeout_s=10)
    assert [(m.routing_key, json.loads(m.body)["data"]["value"]) for m in messages] == [
        ("plant.temp", 21.5),
        ("plant.valve", "on"),
        ("plant.temp", 21.5),
        ("plant.valve", "on"),
    ]
    assert [m.message_id for m in messages] == [message_id(m.body) for m in messages]
    assert messages[0].message_id == messages[2].message_id != messages[1].message_id
    assert {m.delivery_mode for m in messages} == {2}


async def test_a_message_no_queue_takes_fails_the_entry_instead_of_vanishing(route: Route) -> None:
    north = make(route, exchange="", routingKey="no-such-queue-{pointId}")
    await north.start()
    try:
        with pytest.raises(SendError, match="routed a message to no queue") as caught:
            await north.handle_values_json(entry(("a", "2026-01-01T00:00:00Z", 1)))
        assert not caught.value.retry_forever
    finally:
        await north.stop()


async def test_start_and_the_connection_test_name_what_is_wrong(route: Route) -> None:
    await make(route).test_connection()
    with pytest.raises(ConnectorNotReady, match="exchange 'missing-exchange' does not exist"):
        await make(route, exchange="missing-exchange").start()
    with pytest.raises(ConnectorNotReady, match="refused the credentials of 'guest'"):
        await make(route, password="wrong").start()
    with pytest.raises(ConnectorNotReady, match=r"cannot connect to amqp://127\.0\.0\.1:1"):
        await make(route, port=1, connectTimeout=500).start()
    with pytest.raises(msgspec.ValidationError, match="routingKey"):
        msgspec.convert({"routingKey": "{point}"}, AmqpNorthSettings)


async def test_values_per_message_puts_arrays_of_one_routing_key_in_each_message(route: Route) -> None:
    north = make(route, valuesPerMessage=2)
    await north.start()
    try:
        batch = entry(*((("a" if n % 3 else "b"), f"2026-01-01T00:00:0{n}Z", n) for n in range(7)))
        await north.handle_values_json(batch)
        await north.handle_values_json(batch)
    finally:
        await north.stop()
    messages = await drain(route.queue, 8, timeout_s=10)
    sent = [(m.routing_key, [v["data"]["value"] for v in json.loads(m.body)]) for m in messages]
    once = [("plant.b", [0, 3]), ("plant.b", [6]), ("plant.a", [1, 2]), ("plant.a", [4, 5])]
    assert sent == once + once
    assert [m.message_id for m in messages[:4]] == [m.message_id for m in messages[4:]]
    assert [m.message_id for m in messages] == [message_id(m.body) for m in messages]


async def test_a_full_queue_nacks_and_the_entry_is_retried_not_dropped(route: Route) -> None:
    connection = await aio_pika.connect(host=HOST, port=PORT)
    async with connection:
        channel = await connection.channel()
        full = f"{route.queue}-full"
        arguments: dict[str, Any] = {"x-max-length": 2, "x-overflow": "reject-publish"}
        await channel.declare_queue(full, durable=True, arguments=arguments)
        try:
            north = make(route, exchange="", routingKey=full)
            await north.start()
            try:
                rows = [("a", f"2026-01-01T00:00:0{n}Z", n) for n in range(5)]
                with pytest.raises(SendError, match="refused a message \\(nack") as caught:
                    await north.handle_values_json(entry(*rows))
                assert caught.value.retry_forever
                queue = await channel.get_queue(full)
                await queue.purge()
                await north.handle_values_json(entry(*rows[:2]))  # the retry goes through once there is room
            finally:
                await north.stop()
        finally:
            await channel.queue_delete(full)


async def test_many_windows_of_transient_messages_are_all_confirmed_and_nothing_stays_waiting(route: Route) -> None:
    north = make(route, persistent=False)
    await north.start()
    try:
        rows = [(f"p{n % 7}", "2026-01-01T00:00:00Z", n) for n in range(9_000)]  # 5 windows, confirmed piecemeal
        await north.handle_values_json(entry(*rows))
        channel = north._channel
        assert channel is not None
        assert channel.confirmations == {}
        assert channel.message_id_delivery_tag == {}
    finally:
        await north.stop()
    messages = await drain(route.queue, 9_000, timeout_s=30)
    assert sorted(json.loads(m.body)["data"]["value"] for m in messages) == list(range(9_000))
