"""End to end: a million values posted to a real engine reach a private JetStream stream exactly once.

Half-way, the North's worker is killed with SIGKILL and the server is restarted (same port, same store): the
messages of the entry being published are sent again, and their ``Nats-Msg-Id`` makes the stream drop them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
import nats.errors
from engine_process import running_engine
from north_durability import create_north, post_kill_restart, wait_all_delivered
from servers.nats import PrivateNats, private_nats

TOTAL = 1_000_000
BATCH = 10_000


def stream_count(server: PrivateNats) -> int:
    """Messages in the stream (-1 while the server is restarting)."""

    async def run() -> int:
        client = await nats.connect(server.url, allow_reconnect=False, max_reconnect_attempts=1)
        try:
            return int((await client.jetstream().stream_info("PLANT")).state.messages)
        finally:
            await client.close()

    try:
        return asyncio.run(run())
    except (nats.errors.Error, OSError, TimeoutError):
        return -1


async def create_stream(server: PrivateNats) -> None:
    client = await nats.connect(server.url)
    try:
        await client.jetstream().add_stream(name="PLANT", subjects=["plant.>"])
    finally:
        await client.close()


def test_a_million_values_none_lost_none_duplicated_across_kill_9_and_a_server_restart(tmp_path: Path) -> None:
    with private_nats(tmp_path / "nats") as server, running_engine(tmp_path / "data") as engine:
        asyncio.run(create_stream(server))
        settings = {"servers": server.url, "subject": "plant.{pointId}", "stream": "PLANT"}
        north_id = create_north(engine, "nats", settings, BATCH)
        post_kill_restart(engine, north_id, TOTAL, BATCH, server.restart)
        wait_all_delivered(lambda: stream_count(server), TOTAL, timeout_s=600)
        assert stream_count(server) == TOTAL  # every id is distinct: TOTAL messages are the TOTAL values
