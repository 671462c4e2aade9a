"""Messages/s and values/s of the AMQP North into the machine's RabbitMQ, with publisher confirms.

    .venv/bin/python bench/amqp.py                                  # 1 value per message, persistent
    .venv/bin/python bench/amqp.py --values-per-message 100         # arrays of 100 values per message
    .venv/bin/python bench/amqp.py --transient --values 200000

The North runs in this process as its worker runs it: it is handed cache entries (JSON of ``--batch`` values) and
returns from each once RabbitMQ confirmed every message of it (persistent messages into a durable queue unless
``--transient``: RabbitMQ confirms those once written to disk). The queue is a durable classic queue of this bench,
bound to a topic exchange, deleted at the end. Prints the load (``uptime``) with the figures: the machine is
shared, and RabbitMQ runs on the same 2 cores. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

import aio_pika

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from north_durability import value  # noqa: E402
from norths import north  # noqa: E402
from servers.rabbitmq import HOST, PORT, broker_lock, declare_route, delete_route  # noqa: E402


async def queued(queue: str) -> int:
    """Messages in ``queue`` (every one confirmed, so in the queue, before the North returned)."""
    connection = await aio_pika.connect(host=HOST, port=PORT)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return int(declared.declaration_result.message_count or 0)


async def run(total: int, batch: int, per_message: int, persistent: bool) -> tuple[int, float]:
    """(messages confirmed, seconds) for ``total`` values in entries of ``batch``."""
    entries = [json.dumps([value(n) for n in range(s, min(s + batch, total))]).encode() for s in range(0, total, batch)]
    route = await declare_route()
    try:
        settings = {
            "host": "127.0.0.1",
            "exchange": route.exchange,
            "routingKey": "bench.{pointId}",
            "valuesPerMessage": per_message,
            "persistent": persistent,
        }
        connector = north("amqp", settings)
        await connector.start()
        try:
            started = time.perf_counter()
            for data in entries:
                await connector.handle_values_json(data)
            elapsed = time.perf_counter() - started
        finally:
            await connector.stop()
        return await queued(route.queue), elapsed
    finally:
        await delete_route(route)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=10_000, help="values per cache entry")
    parser.add_argument("--values-per-message", type=int, default=1)
    parser.add_argument("--transient", action="store_true", help="delivery mode 1 (not written to disk)")
    args = parser.parse_args()
    with broker_lock():
        messages, elapsed = asyncio.run(run(args.values, args.batch, args.values_per_message, not args.transient))
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    mode = "transient" if args.transient else "persistent"
    print(
        f"amqp {args.values:,} values, {args.values_per_message}/message, {mode}, entries of {args.batch:,}: "
        f"{messages / elapsed:,.0f} messages/s, {args.values / elapsed:,.0f} values/s (load average {load})",
        flush=True,
    )


if __name__ == "__main__":
    main()
