"""Values/s of the Norths that wait for their peer's confirmation, each against a real peer on this machine.

    .venv/bin/python bench/norths.py          # all: postgresql, nats, amqp, sparkplug (500,000 values each)
    .venv/bin/python bench/norths.py amqp --values 200000 --batch 10000

Each North runs in this process, as its worker would run it: it is handed the JSON of cache entries of ``--batch``
values and returns once the peer confirmed them (PostgreSQL: the transaction committed; NATS: every JetStream
ack; AMQP: every publisher confirm, persistent messages into a durable queue; Sparkplug: every DDATA's PUBACK
from the machine's Mosquitto, QoS 1, 500 metrics per DDATA). PostgreSQL is a private server the
bench starts (``tests/servers/postgres.py``, fsync off: the figure is the North's, not the disk's); NATS a private
``nats-server -js``; RabbitMQ the machine's broker. The figure is values/s over all entries. Not a test.

On a loaded machine the wall-clock figure mostly tells the load. For PostgreSQL the bench also prints the CPU
seconds the bench process (the North) and the server's processes spent: values per CPU-second of the busier
of the two is the rate both would reach each on its own core, whatever the other helpers do.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import msgspec
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fakes import RecordingLogger  # noqa: E402
from north_durability import value  # noqa: E402
from servers.nats import private_nats  # noqa: E402
from servers.postgres import private_postgres  # noqa: E402
from servers.rabbitmq import declare_route, delete_route  # noqa: E402

from connectors import registry  # noqa: E402
from connectors.base import ConnectorContext, NorthConnector  # noqa: E402


def north(type_: str, settings: dict[str, Any]) -> NorthConnector[Any]:
    """A North of ``type_`` built as its worker builds it."""
    manifest = registry.manifest("north", type_)
    cls = registry.connector_class("north", type_)
    context = ConnectorContext(
        id="bench", name="bench", logger=RecordingLogger(), base_folder=Path("."), data_folder=Path(".")
    )
    built: NorthConnector[Any] = cls(msgspec.convert(settings, manifest.settings), context)
    return built


def entries(total: int, batch: int) -> list[bytes]:
    """The cache entries of the bench: ``total`` values in JSON arrays of ``batch``."""
    return [json.dumps([value(n) for n in range(s, min(s + batch, total))]).encode() for s in range(0, total, batch)]


async def send_all(connector: NorthConnector[Any], data: list[bytes]) -> float:
    """Seconds ``connector`` (started) takes to send every entry of ``data``."""
    started = time.perf_counter()
    for entry in data:
        await connector.handle_values_json(entry)
    return time.perf_counter() - started


async def measure(connector: NorthConnector[Any], total: int, batch: int) -> float:
    """Values/s of ``connector`` over ``total`` values in entries of ``batch``."""
    data = entries(total, batch)
    await connector.start()
    try:
        return total / await send_all(connector, data)
    finally:
        await connector.stop()


def cpu_seconds(processes: list[psutil.Process]) -> float:
    """User + system CPU time of ``processes`` (those gone are left out)."""
    spent = 0.0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            spent += times.user + times.system
    return spent


async def bench_postgresql(total: int, batch: int) -> float:
    with private_postgres() as server:
        connector = north("postgresql", {**server.settings, "table": "bench"})
        postmaster = psutil.Process(int((server.data / "postmaster.pid").read_text().split()[0]))
        data = entries(total, batch)
        await connector.start()
        try:
            # Every server process (the connector's backend, WAL writer, checkpointer...) and this one.
            server_processes = [postmaster, *postmaster.children(recursive=True)]
            me = [psutil.Process()]
            before = cpu_seconds(me), cpu_seconds(server_processes)
            elapsed = await send_all(connector, data)
            north_cpu, server_cpu = cpu_seconds(me) - before[0], cpu_seconds(server_processes) - before[1]
        finally:
            await connector.stop()
        print(
            f"postgresql   CPU: North (bench process) {north_cpu:.2f} s, server {server_cpu:.2f} s: "
            f"{total / max(north_cpu, server_cpu):,.0f} values per CPU-second of the busier",
            flush=True,
        )
        return total / elapsed


async def bench_nats(total: int, batch: int) -> float:
    import nats

    with tempfile.TemporaryDirectory() as folder, private_nats(Path(folder)) as server:
        client = await nats.connect(server.url)
        await client.jetstream().add_stream(name="BENCH", subjects=["bench.>"])
        await client.close()
        settings = {"servers": server.url, "subject": "bench.{pointId}", "stream": "BENCH"}
        return await measure(north("nats", settings), total, batch)


async def bench_amqp(total: int, batch: int) -> float:
    route = await declare_route()
    try:
        settings = {"host": "127.0.0.1", "exchange": route.exchange, "routingKey": "bench.{pointId}"}
        return await measure(north("amqp", settings), total, batch)
    finally:
        await delete_route(route)


async def bench_sparkplug(total: int, batch: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        settings = {"url": "mqtt://127.0.0.1:1883", "groupId": f"bench-{Path(folder).name}", "qos": "1"}
        connector = north("sparkplug", settings)
        connector.context.base_folder = Path(folder)
        return await measure(connector, total, batch)


BENCHES: dict[str, Callable[[int, int], Coroutine[Any, Any, float]]] = {
    "postgresql": bench_postgresql,
    "nats": bench_nats,
    "amqp": bench_amqp,
    "sparkplug": bench_sparkplug,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("norths", nargs="*", choices=[[], *BENCHES], default=[])
    parser.add_argument("--values", type=int, default=500_000)
    parser.add_argument("--batch", type=int, default=10_000)
    args = parser.parse_args()
    for name in args.norths or list(BENCHES):
        rate = asyncio.run(BENCHES[name](args.values, args.batch))
        print(f"{name:<12} {args.values:>9,} values in entries of {args.batch:,}: {rate:>10,.0f} values/s", flush=True)


if __name__ == "__main__":
    main()
