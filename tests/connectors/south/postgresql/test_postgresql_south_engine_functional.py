"""PostgreSQL South in a real engine, to a file-writer North, across a kill -9 of the South's worker.

The table's rows lie in the past; the item's tracked instant is set before the South starts so that the
worker catches up over many ``maxReadInterval`` windows. The South worker is killed at a random moment of
the catch-up; the supervisor restarts it and it resumes from its tracked instant. Every row must reach the
CSV files at least once (a window handed over but not yet acknowledged is read again: duplicates allowed).
"""

from __future__ import annotations

import csv
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine_process import north_body, running_engine, scan_mode_id, wait_for
from sql_servers import postgres_database, psql

from engine.cache.south import SouthCacheDB

ROWS = 300_000
STEP_MS = 20


def ids_written(folder: Path) -> list[int]:
    ids: list[int] = []
    for path in folder.glob("*.csv"):
        try:
            with path.open(newline="") as handle:
                reader = csv.reader(handle)
                next(reader, None)
                ids.extend(int(row[0]) for row in reader)
        except (OSError, ValueError, IndexError):
            continue  # Being renamed into place; read at the next poll.
    return ids


def test_every_row_reaches_the_csv_across_a_kill_9_of_the_south_worker(tmp_path: Path) -> None:
    output = tmp_path / "out"
    output.mkdir()
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    with postgres_database() as database, running_engine(tmp_path / "data") as engine:
        psql(
            database,
            "CREATE TABLE data (id int PRIMARY KEY, ts timestamptz NOT NULL, label text);"
            f"INSERT INTO data SELECT i, '{base.isoformat()}'::timestamptz + i * interval '{STEP_MS} ms', 'r' || i "
            f"FROM generate_series(0, {ROWS - 1}) AS i; CREATE INDEX ON data (ts)",
        )
        every_second = scan_mode_id(engine, "Every second")
        north = engine.ok(
            "POST",
            "/api/north",
            north_body(
                "writer", "file-writer", {"outputFolder": str(output), "prefix": "", "suffix": ""}, every_second
            ),
        )
        engine.wait_state("north", north["id"], "RUNNING")
        body = {
            "name": "plant-db",
            "type": "postgresql",
            "description": "",
            "enabled": False,
            "settings": {
                "host": "127.0.0.1",
                "port": 5432,
                "database": database,
                "username": "postgres",
                "connectionTimeout": 5000,
                "requestTimeout": 60000,
            },
            "items": [
                {
                    "name": "rows",
                    "enabled": True,
                    "scanModeId": every_second,
                    "maxReadInterval": 300,
                    "readDelay": 0,
                    "settings": {
                        "query": "SELECT id, ts, label FROM data WHERE ts > @StartTime AND ts <= @EndTime",
                        "dateTimeFields": [{"fieldName": "ts", "useAsReference": True, "type": "timestamptz"}],
                        "serialization": {"filename": "@ItemName-@QueryStartTime.csv", "outputTimezone": "UTC"},
                    },
                }
            ],
            "groups": [],
        }
        south = engine.ok("POST", "/api/south", body)
        south_id = str(south["id"])
        item_id = str(engine.ok("GET", f"/api/south/{south_id}")["items"][0]["id"])
        with SouthCacheDB(engine.data_dir / "cache" / "cache.db") as cache_db:
            cache_db.for_south(south_id).set_tracked_instant(item_id, base - timedelta(seconds=1))
        engine.ok("POST", f"/api/south/{south_id}/start")
        engine.wait_state("south", south_id, "RUNNING")

        target = random.randint(ROWS // 10, ROWS // 2)
        wait_for(lambda: len(ids_written(output)) >= target, 120, "catch-up under way", poll_s=0.2)
        workers = [p for p in engine.tree() if south_id in " ".join(p.cmdline())]
        assert workers, "the South's worker is running"
        for worker in workers:
            worker.kill()
        wait_for(lambda: set(range(ROWS)) <= set(ids_written(output)), 240, "every row written", poll_s=0.5)
        log = engine.log()
        assert "DROP" not in log
