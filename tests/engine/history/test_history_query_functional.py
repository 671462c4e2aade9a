"""Acceptance 4 of issue 17: a history query over one year of 1-minute data, through a real engine.

PostgreSQL holds 525,600 rows (``generate_series``); the query reads them in one-day windows with the
PostgreSQL South into a file-writer North as CSV. Its live progress is watched on ``/sse/history-queries/{id}``,
the engine is restarted (SIGTERM, then started again) while it runs, the query resumes from its tracked
instant, FINISHES, and the CSV output matches the source row for row: a graceful restart repeats nothing.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from engine_process import EngineProcess, wait_for
from history_support import RANGE_QUERY, Frames, history_body, minutes_table, postgres, sql_item, wait_for_status
from sql_servers import postgres_database, psql

ROWS = 525_600
START, END = "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z"


def interval_numbers(frames: list[dict[str, Any]]) -> list[int]:
    """The ``currentIntervalNumber`` of each frame that had progress."""
    return [int(f["historyMetrics"]["currentIntervalNumber"]) for f in frames if f.get("historyMetrics")]


def written_rows(folder: Path) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for path in sorted(folder.glob("*.csv")):
        with path.open(newline="") as handle:
            reader = csv.reader(handle)
            next(reader)
            rows.extend((ts, value) for ts, value in reader)
    return rows


def source_rows(database: str) -> list[tuple[str, ...]]:
    """The table's rows as the CSV output writes them (UTC, ``yyyy-MM-dd HH:mm:ss``), in time order."""
    text = psql(
        database,
        "COPY (SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), value FROM data ORDER BY ts) "
        "TO STDOUT WITH CSV",
    )
    return [tuple(line.split(",")) for line in text.splitlines()]


def year_body(database: str, output: Path) -> dict[str, Any]:
    item = sql_item("minutes", query=RANGE_QUERY + " ORDER BY ts", outputTimestampFormat="yyyy-MM-dd HH:mm:ss")
    south = postgres(database, connectionTimeout=5000, requestTimeout=60000)
    return history_body("backfill 2025", (START, END, 86_400), south, output, [item])


def test_a_year_of_minutes_is_backfilled_across_an_engine_restart_row_for_row(tmp_path: Path) -> None:
    output = tmp_path / "out"
    output.mkdir()
    with postgres_database() as database:
        minutes_table(database, ROWS)
        engine = EngineProcess(tmp_path / "data").start()
        try:
            query = engine.ok("POST", "/api/history-queries", year_body(database, output))
            history_id = query["id"]
            assert query["status"] == "PENDING"
            stream = Frames(f"{engine.url}/sse/history-queries/{history_id}")
            engine.ok("POST", f"/api/history-queries/{history_id}/start")
            wait_for(
                lambda: (
                    max(interval_numbers(stream.frames), default=0) >= 60
                    and len(set(interval_numbers(stream.frames))) >= 2
                ),
                120,
                "60 windows delivered, progress seen live at least twice",
            )
            assert engine.stop() == 0, engine.log()
            stream.close()
            before = interval_numbers(stream.frames)
            assert before == sorted(before) and len(set(before)) >= 2, f"live progress seen: {before}"
            last = [frame["historyMetrics"] for frame in stream.frames if frame.get("historyMetrics")][-1]
            assert last["numberOfIntervals"] == 365 and last["running"] and not last["finished"], last

            engine.start()
            assert engine.ok("GET", f"/api/history-queries/{history_id}")["status"] in ("RUNNING", "FINISHED")
            resumed = Frames(f"{engine.url}/sse/history-queries/{history_id}")
            wait_for_status(engine, history_id, "FINISHED", 240)
            after = interval_numbers(resumed.frames)
            resumed.close()
            # It resumed from its tracked instant: the first window after the restart is past the first ones.
            assert after and min(after) > 1, after
        finally:
            if engine.proc is not None and engine.proc.poll() is None:
                assert engine.stop() == 0, engine.log()
        source = source_rows(database)
    expected = source
    written = written_rows(output)
    assert len(expected) == ROWS
    assert len(written) == ROWS, f"{len(written)} rows written for {ROWS}"
    assert sorted(written) == expected


def test_a_kill_9_of_the_engine_loses_no_row(tmp_path: Path) -> None:
    """At least once across a kill -9 of the engine and its workers: duplicates allowed, no row missing."""
    rows = 10_080  # one week of minutes, read in one-hour windows
    output = tmp_path / "out"
    output.mkdir()
    with postgres_database() as database:
        minutes_table(database, rows)
        engine = EngineProcess(tmp_path / "data").start()
        try:
            body = year_body(database, output)
            body["queryTimeRange"].update(endTime="2025-01-08T00:00:00Z", maxReadInterval=3600)
            history_id = engine.ok("POST", "/api/history-queries", body)["id"]
            engine.ok("POST", f"/api/history-queries/{history_id}/start")
            wait_for(lambda: len(list(output.glob("*.csv"))) >= 20, 60, "20 windows written", poll_s=0.05)
            engine.kill_tree()
            engine.start()
            wait_for_status(engine, history_id, "FINISHED", 120)
        finally:
            if engine.proc is not None and engine.proc.poll() is None:
                assert engine.stop() == 0, engine.log()
        source = source_rows(database)
    expected = set(source)
    written = written_rows(output)
    assert len(expected) == rows
    assert set(written) == expected
    assert len(written) >= rows
