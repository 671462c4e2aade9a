"""Helpers of the history-query tests (and ``bench/history_query.py``): a query body into a file-writer North.

Import as ``from history_support import ...`` (``tests`` is on pytest's ``pythonpath``).
"""

from __future__ import annotations

import csv
import json
import threading
import urllib.request
from pathlib import Path
from typing import Any

from engine_process import AUTH, EngineProcess, wait_for
from sql_servers import psql

RANGE_QUERY = "SELECT ts, value FROM data WHERE ts > @StartTime AND ts <= @EndTime"
"""An item query over the ``data (ts, value)`` table the tests create."""


def csv_data_rows(folder: Path) -> int:
    """How many data rows (header excluded) the CSV files of ``folder`` hold."""
    count = 0
    for path in folder.glob("*.csv"):
        with path.open(newline="") as handle:
            count += sum(1 for _ in csv.reader(handle)) - 1
    return count


def minutes_table(database: str, rows: int, start: str = "2025-01-01T00:00:00Z") -> None:
    """``data (ts, value)``: one row a minute from ``start`` (excluded), ``rows`` rows, ``value`` 1, 2, ..."""
    psql(
        database,
        "CREATE TABLE data (ts timestamptz PRIMARY KEY, value bigint NOT NULL);"
        f"INSERT INTO data SELECT '{start}'::timestamptz + i * interval '1 minute', i "
        f"FROM generate_series(1, {rows}) AS i",
    )


def sql_item(
    name: str, *, field_type: str = "timestamptz", query: str = RANGE_QUERY, **serialization: Any
) -> dict[str, Any]:
    """An item reading ``data`` with ``ts`` as its reference field, one CSV file per window."""
    return {
        "name": name,
        "settings": {
            "query": query,
            "dateTimeFields": [{"fieldName": "ts", "useAsReference": True, "type": field_type}],
            "serialization": {"filename": "@ItemName-@QueryStartTime.csv", "outputTimezone": "UTC", **serialization},
        },
    }


def history_body(
    name: str,
    time_range: tuple[str, str, int],
    south: tuple[str, dict[str, Any]],
    output: Path,
    items: list[dict[str, Any]],
    **extra: Any,
) -> dict[str, Any]:
    """A history query body into a file-writer North writing into ``output`` (no prefix, no suffix).

    ``time_range`` is ``(startTime, endTime, maxReadInterval)`` (no read delay); ``south`` is
    ``(southType, southSettings)``.
    """
    start, end, window = time_range
    south_type, south_settings = south
    return {
        "name": name,
        "queryTimeRange": {"startTime": start, "endTime": end, "maxReadInterval": window, "readDelay": 0},
        "southType": south_type,
        "southSettings": south_settings,
        "northType": "file-writer",
        "northSettings": {"outputFolder": str(output), "prefix": "", "suffix": ""},
        "items": items,
        **extra,
    }


def postgres(database: str, **extra: Any) -> tuple[str, dict[str, Any]]:
    """The ``postgresql`` South on the machine's PostgreSQL (trust auth, user ``postgres``)."""
    return "postgresql", {"host": "127.0.0.1", "database": database, "username": "postgres", **extra}


class Frames:
    """The frames of one SSE stream, read by a thread until the stream ends."""

    def __init__(self, url: str) -> None:
        self.frames: list[dict[str, Any]] = []
        request = urllib.request.Request(url, headers={"Authorization": AUTH})
        self._response = urllib.request.urlopen(request, timeout=30)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for line in self._response:
                if line.startswith(b"data: "):
                    self.frames.append(json.loads(line[6:]))
        except (OSError, ValueError, AttributeError):
            pass  # The stream was closed under the reader (engine stopped, or ``close``).

    def close(self) -> None:
        """Stop reading (the engine ends the stream when it stops)."""
        self._response.close()
        self._thread.join(timeout=5)


def wait_for_status(engine: EngineProcess, history_id: str, status: str, timeout_s: float) -> None:
    """Poll ``GET /api/history-queries/{id}`` until the query has ``status`` (``AssertionError`` after the timeout)."""
    path = f"/api/history-queries/{history_id}"
    wait_for(lambda: engine.ok("GET", path)["status"] == status, timeout_s, f"history query {status}", poll_s=0.5)
