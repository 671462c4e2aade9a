"""A history query whose source rejects its read for good is ERRORED, says why, and runs once fixed.

A real registered engine reads PostgreSQL with an item whose SQL is wrong: after the South's few tries
(``engine.worker.history.PERMANENT_FAILURES``, ``RETRY_DELAY_S`` apart: bounded) the query is ERRORED in
the API (with the driver's message in ``error``), on its SSE stream and in the history-queries message to
OIAnalytics. The item is fixed, the query started again, and it FINISHES with every row written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine_process import wait_for
from history_support import (
    RANGE_QUERY,
    Frames,
    csv_data_rows,
    history_body,
    minutes_table,
    postgres,
    sql_item,
    wait_for_status,
)
from oia_support import registered_engine, wait_until
from servers.oianalytics import FakeOIAnalytics
from sql_servers import postgres_database

ROWS = 1440
TIME_RANGE = ("2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z", 3600)
BAD_QUERY = RANGE_QUERY.replace("SELECT", "SELEC")


def test_a_rejected_query_is_errored_everywhere_then_runs_once_fixed(tmp_path: Path) -> None:
    fake = FakeOIAnalytics()
    output = tmp_path / "out"
    output.mkdir()
    with postgres_database() as database, fake, registered_engine(tmp_path, fake) as engine:
        minutes_table(database, ROWS)
        body = history_body("broken", TIME_RANGE, postgres(database), output, [sql_item("minutes", query=BAD_QUERY)])
        history_id = engine.ok("POST", "/api/history-queries", body)["id"]
        path = f"/api/history-queries/{history_id}"
        stream = Frames(f"{engine.url}/sse/history-queries/{history_id}")
        try:
            engine.ok("POST", f"{path}/start")
            wait_for_status(engine, history_id, "ERRORED", 60)
            shown = engine.ok("GET", path)
            assert 'syntax error at or near "SELEC"' in shown["error"], shown.get("error")
            assert "minutes" in shown["error"]
            wait_for(
                lambda: any(frame["status"] == "ERRORED" and frame.get("error") for frame in stream.frames),
                10,
                "an ERRORED frame on the SSE stream",
            )
        finally:
            stream.close()
        errored = next(frame for frame in stream.frames if frame["status"] == "ERRORED")
        assert "syntax error" in errored["error"], errored

        def listed(status: str) -> dict[str, Any] | None:
            for message in reversed(fake.history_messages):
                for entry in message["historyQueries"]:
                    if entry["oIBusInternalId"] == history_id and entry["settings"]["status"] == status:
                        return dict(entry)
            return None

        wait_until(lambda: listed("ERRORED"), what="the query ERRORED in a history-queries message")
        assert csv_data_rows(output) == 0

        (item,) = engine.ok("GET", path)["items"]
        fixed = {**item, "settings": {**item["settings"], "query": RANGE_QUERY}}
        engine.ok("PUT", f"{path}/items/{item['id']}", fixed)
        engine.ok("POST", f"{path}/start")
        wait_for_status(engine, history_id, "FINISHED", 60)
        assert engine.ok("GET", path)["error"] is None
        wait_until(lambda: listed("FINISHED"), what="the query FINISHED in a history-queries message")
    assert csv_data_rows(output) == ROWS
