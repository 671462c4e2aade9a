"""The machine's RabbitMQ (127.0.0.1:5672, guest/guest), shared by parallel tests.

Each test declares its own durable exchange and queue (``declare_route``). A test that restarts the broker
(``rabbitmqctl stop_app``/``start_app``: the node stays, queues and persistent messages survive) holds
``broker_lock(exclusive=True)``; every other RabbitMQ test holds it shared, so no test sees a restart it did not ask
for, whichever xdist worker runs it.
"""

from __future__ import annotations

import contextlib
import fcntl
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import aio_pika
from conftest import require_service

HOST, PORT = "127.0.0.1", 5672
LOCK = "/tmp/oibus-tests-rabbitmq.lock"


@contextlib.contextmanager
def broker_lock(*, exclusive: bool = False) -> Iterator[None]:
    """Hold the machine broker: shared by tests that use it, exclusive for one that restarts it."""
    require_service("RabbitMQ", HOST, PORT)
    with open(LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def restart_broker() -> None:
    """Stop and start the RabbitMQ application (hold ``broker_lock(exclusive=True)``)."""
    try:
        subprocess.run(["rabbitmqctl", "stop_app"], capture_output=True, timeout=120, check=True)
    finally:
        ensure_running()


def ensure_running() -> None:
    """Start the RabbitMQ application if it is stopped (a no-op when it runs) and wait until it serves."""
    subprocess.run(["rabbitmqctl", "start_app"], capture_output=True, timeout=120, check=True)
    subprocess.run(["rabbitmqctl", "await_startup"], capture_output=True, timeout=120, check=True)


@dataclass(frozen=True)
class Route:
    """A durable topic exchange of one test, bound to a durable queue with ``#``."""

    exchange: str
    queue: str


async def declare_route() -> Route:
    """Declare an exchange and queue of this test alone."""
    name = f"oibus-test-{uuid.uuid4().hex[:12]}"
    connection = await aio_pika.connect(host=HOST, port=PORT)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(name, durable=True)
        await queue.bind(exchange, "#")
    return Route(name, name)


async def delete_route(route: Route) -> None:
    """Delete the test's exchange and queue."""
    connection = await aio_pika.connect(host=HOST, port=PORT)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(route.queue)
        await channel.exchange_delete(route.exchange)


async def drain(queue: str, expected: int, timeout_s: float = 60.0) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Consume messages of ``queue`` until ``expected`` arrived or nothing came for ``timeout_s``."""
    found: list[aio_pika.abc.AbstractIncomingMessage] = []
    connection = await aio_pika.connect(host=HOST, port=PORT)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=5000)
        source = await channel.get_queue(queue, ensure=True)
        async with source.iterator(no_ack=True, timeout=timeout_s) as messages:
            with contextlib.suppress(TimeoutError):
                async for message in messages:
                    found.append(message)
                    if len(found) >= expected:
                        break
    return found
