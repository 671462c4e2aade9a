"""Messages/s and values/s of the AMQP North into the machine's RabbitMQ, with publisher confirms.

    .venv/bin/python bench/amqp.py                                  # 1 value per message, persistent
    .venv/bin/python bench/amqp.py --values-per-message 100         # arrays of 100 values per message
    .venv/bin/python bench/amqp.py --transient --values 200000
    .venv/bin/python bench/amqp.py --transient --default-exchange   # to the queue by name, no topic routing

The North runs in this process as its worker runs it: it is handed cache entries (JSON of ``--batch`` values) and
returns from each once RabbitMQ confirmed every message of it (persistent messages into a durable queue unless
``--transient``: RabbitMQ confirms those once written to disk). The queue is a durable classic queue of this bench,
bound to a topic exchange, deleted at the end. Prints the load (``uptime``) with the figures: the machine is
shared, and RabbitMQ runs on the same 2 cores. It also prints the CPU per message of the North (this process, during
the sends) and of RabbitMQ (``beam.smp``, when visible), which move much less with the load than the rates do.

The issue's target, 50,000 messages/s with confirms, is not reachable here with one value per message: RabbitMQ
3.10 alone spends 52-62 us of CPU per persistent message (2.6-3.1 cores at 50,000/s, of the machine's 2) and 31-36
us per transient one through the topic exchange, against 2.7 and 5-7 us for the North. See the North's README,
Throughput. Not a test.
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
import psutil

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


def cpu_seconds(process: psutil.Process | None) -> float:
    """User + system CPU seconds of ``process`` so far (0 when it is not visible)."""
    if process is None:
        return 0.0
    times = process.cpu_times()
    return float(times.user + times.system)


def broker_process() -> psutil.Process | None:
    """RabbitMQ's Erlang VM (``beam.smp``) when it runs on this machine."""
    for process in psutil.process_iter(["name"]):
        if process.info["name"] == "beam.smp":
            return process
    return None


async def run(
    total: int, batch: int, per_message: int, persistent: bool, default_exchange: bool = False
) -> tuple[int, float, float, float]:
    """(messages confirmed, seconds, North CPU seconds, RabbitMQ CPU seconds) for ``total`` values."""
    entries = [json.dumps([value(n) for n in range(s, min(s + batch, total))]).encode() for s in range(0, total, batch)]
    route = await declare_route()
    try:
        settings = {
            "host": "127.0.0.1",
            "exchange": "" if default_exchange else route.exchange,
            "routingKey": route.queue if default_exchange else "bench.{pointId}",
            "valuesPerMessage": per_message,
            "persistent": persistent,
        }
        connector = north("amqp", settings)
        await connector.start()
        me, broker = psutil.Process(), broker_process()
        try:
            started, north_cpu, broker_cpu = time.perf_counter(), cpu_seconds(me), cpu_seconds(broker)
            for data in entries:
                await connector.handle_values_json(data)
            elapsed = time.perf_counter() - started
            north_cpu, broker_cpu = cpu_seconds(me) - north_cpu, cpu_seconds(broker) - broker_cpu
        finally:
            await connector.stop()
        return await queued(route.queue), elapsed, north_cpu, broker_cpu
    finally:
        await delete_route(route)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=10_000, help="values per cache entry")
    parser.add_argument("--values-per-message", type=int, default=1)
    parser.add_argument("--transient", action="store_true", help="delivery mode 1 (not written to disk)")
    parser.add_argument(
        "--default-exchange", action="store_true", help="publish to the queue by name, not through the topic exchange"
    )
    args = parser.parse_args()
    with broker_lock():
        measured = asyncio.run(
            run(args.values, args.batch, args.values_per_message, not args.transient, args.default_exchange)
        )
    messages, elapsed, north_cpu, broker_cpu = measured
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    mode = ("transient" if args.transient else "persistent") + (", default exchange" if args.default_exchange else "")
    print(
        f"amqp {args.values:,} values, {args.values_per_message}/message, {mode}, entries of {args.batch:,}: "
        f"{messages / elapsed:,.0f} messages/s, {args.values / elapsed:,.0f} values/s; CPU per message: North "
        f"{north_cpu / messages * 1e6:.1f} us, RabbitMQ {broker_cpu / messages * 1e6:.1f} us (load average {load})",
        flush=True,
    )


if __name__ == "__main__":
    main()
