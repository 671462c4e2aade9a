"""End to end: a million values posted to a real engine reach a private PostgreSQL exactly once.

Half-way, the North's worker is killed with SIGKILL and the server is restarted: the values of the entry being
inserted are sent again (the durability contract), and the table's key turns that redelivery into no new row.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
from engine_process import running_engine
from north_durability import create_north, post_kill_restart, wait_all_delivered
from servers.postgres import private_postgres

TOTAL = 1_000_000
BATCH = 10_000


def test_a_million_values_none_lost_none_duplicated_across_kill_9_and_a_server_restart(tmp_path: Path) -> None:
    with private_postgres() as server, running_engine(tmp_path / "data") as engine:

        def query(sql: str) -> int:
            async def run() -> int:
                connection = await asyncpg.connect(host=server.settings["host"], user="postgres", database="postgres")
                try:
                    return int(await connection.fetchval(sql) or 0)
                finally:
                    await connection.close()

            try:
                return asyncio.run(run())
            except (OSError, asyncpg.exceptions.PostgresError):
                return -1  # the server is restarting

        north_id = create_north(engine, "postgresql", {**server.settings, "table": "values"}, BATCH)
        post_kill_restart(engine, north_id, TOTAL, BATCH, server.restart)
        wait_all_delivered(lambda: query("SELECT count(*) FROM values"), TOTAL, timeout_s=600)
        assert query("SELECT count(DISTINCT (data->>'value')::bigint) FROM values") == TOTAL
        assert query("SELECT sum(value)::bigint FROM values") == TOTAL * (TOTAL - 1) // 2
        assert query("SELECT count(*) FROM values WHERE value IS NULL") == 0
