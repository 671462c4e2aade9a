"""SQL Souths in a real engine, to a file-writer North, across a kill -9 of the South's worker.

For each of PostgreSQL, MariaDB, SQLite and ODBC (psqlODBC to the machine's PostgreSQL), a table of
1,000,000 rows as acceptance 1 of issue 17 asks. The table's rows lie in the past; the item's tracked
instant is set before the South starts so that the worker catches up over many ``maxReadInterval``
windows. The South worker is killed at a random moment of the catch-up; the supervisor restarts it and it
resumes from its tracked instant. Every row must reach the CSV files at least once (a window handed over
but not yet acknowledged is read again: duplicates allowed).
"""

from __future__ import annotations

import csv
import random
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from engine_process import north_body, running_engine, scan_mode_id, wait_for
from sql_servers import mariadb_database, mysql_cli, postgres_database, psql

from engine.cache.south import SouthCacheDB

ROWS = 1_000_000
STEP_MS = 20
QUERY = "SELECT id, ts, label FROM data WHERE ts > @StartTime AND ts <= @EndTime"


@dataclass(frozen=True)
class Source:
    """A South type, its settings and the date-time field of its ``data`` table."""

    type: str
    settings: dict[str, Any]
    ts_field: dict[str, Any]


def _odbc_driver() -> bool:
    try:
        listed = subprocess.run(["odbcinst", "-q", "-d"], capture_output=True, text=True, timeout=10).stdout
    except OSError:
        return False
    return "[PostgreSQL Unicode]" in listed


@contextmanager
def source(kind: str, base: datetime, folder: Path) -> Iterator[Source]:
    """A table of ``ROWS`` rows, one every ``STEP_MS`` from ``base``, in the database of ``kind``."""
    naive = base.replace(tzinfo=None).isoformat(" ")
    if kind in ("postgresql", "odbc"):
        if kind == "odbc" and not _odbc_driver():
            pytest.skip("ODBC driver 'PostgreSQL Unicode' missing (apt-get install odbc-postgresql)")
        column = "timestamptz" if kind == "postgresql" else "timestamp"
        with postgres_database() as database:
            psql(
                database,
                f"CREATE TABLE data (id int PRIMARY KEY, ts {column} NOT NULL, label text);"
                f"INSERT INTO data SELECT i, '{naive}+00'::{column} + i * interval '{STEP_MS} ms', 'r' || i "
                f"FROM generate_series(0, {ROWS - 1}) AS i; CREATE INDEX ON data (ts)",
            )
            if kind == "postgresql":
                settings = {"host": "127.0.0.1", "port": 5432, "database": database, "username": "postgres"}
                yield Source(kind, {**settings, "connectionTimeout": 5000, "requestTimeout": 60000}, _ts(column))
            else:
                text = f"Driver={{PostgreSQL Unicode}};Server=127.0.0.1;Port=5432;Database={database};Uid=postgres"
                yield Source(kind, {"connectionString": text, "requestTimeout": 60000}, _ts("timestamp"))
    elif kind == "mysql":
        with mariadb_database() as database:
            mysql_cli(
                database,
                "CREATE TABLE data (id int PRIMARY KEY, ts datetime(3) NOT NULL, label text, INDEX (ts));"
                f"INSERT INTO data SELECT seq, TIMESTAMP '{naive}' + INTERVAL seq * {STEP_MS * 1000} MICROSECOND, "
                f"CONCAT('r', seq) FROM seq_0_to_{ROWS - 1}",
            )
            settings = {"host": "127.0.0.1", "port": 3306, "database": database, "username": "root"}
            yield Source(kind, {**settings, "connectionTimeout": 5000, "requestTimeout": 60000}, _ts("date-time"))
    else:
        path = folder / "plant.db"
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE data (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, label TEXT)")
            start_ms = int(base.timestamp() * 1000)
            db.executemany(
                "INSERT INTO data VALUES (?, ?, ?)", ((i, start_ms + i * STEP_MS, f"r{i}") for i in range(ROWS))
            )
            db.execute("CREATE INDEX data_ts ON data (ts)")
        db.close()
        yield Source(kind, {"databasePath": str(path)}, _ts("unix-epoch-ms"))


def _ts(kind: str) -> dict[str, Any]:
    return {"fieldName": "ts", "useAsReference": True, "type": kind}


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


@pytest.mark.parametrize("kind", ["postgresql", "mysql", "sqlite", "odbc"])
def test_every_row_reaches_the_csv_across_a_kill_9_of_the_south_worker(tmp_path: Path, kind: str) -> None:
    output = tmp_path / "out"
    output.mkdir()
    # The rows end an hour before now: every one of them is in the past when the South catches up.
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(milliseconds=ROWS * STEP_MS, hours=1)
    with source(kind, base, tmp_path) as src, running_engine(tmp_path / "data") as engine:
        every_second = scan_mode_id(engine, "Every second")
        writer = {"outputFolder": str(output), "prefix": "", "suffix": ""}
        north = engine.ok("POST", "/api/north", north_body("writer", "file-writer", writer, every_second))
        engine.wait_state("north", north["id"], "RUNNING")
        item = {
            "name": "rows",
            "enabled": True,
            "scanModeId": every_second,
            "maxReadInterval": 300,
            "readDelay": 0,
            "settings": {
                "query": QUERY,
                "dateTimeFields": [src.ts_field],
                "serialization": {"filename": "@ItemName-@QueryStartTime.csv", "outputTimezone": "UTC"},
            },
        }
        body = {"name": "plant-db", "type": src.type, "description": "", "enabled": False, "settings": src.settings}
        south = engine.ok("POST", "/api/south", {**body, "items": [item], "groups": []})
        south_id = str(south["id"])
        item_id = str(engine.ok("GET", f"/api/south/{south_id}")["items"][0]["id"])
        with SouthCacheDB(engine.data_dir / "cache" / "cache.db") as cache_db:
            cache_db.for_south(south_id).set_tracked_instant(item_id, base - timedelta(seconds=1))
        engine.ok("POST", f"/api/south/{south_id}/start")
        engine.wait_state("south", south_id, "RUNNING")

        target = random.randint(ROWS // 10, ROWS // 2)
        wait_for(lambda: len(ids_written(output)) >= target, 600, "catch-up under way", poll_s=1)
        workers = [p for p in engine.tree() if south_id in " ".join(p.cmdline())]
        assert workers, "the South's worker is running"
        for worker in workers:
            worker.kill()
        # Each poll reads every file written so far: seconds apart, so the test does not slow the engine down.
        wait_for(lambda: set(range(ROWS)) <= set(ids_written(output)), 900, "every row written", poll_s=3)
        assert "DROP" not in engine.log()
