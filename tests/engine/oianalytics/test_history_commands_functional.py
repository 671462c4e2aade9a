"""Acceptance 5 of issue 17: the eleven history-query commands end to end against the fake OIAnalytics.

A real registered engine runs each command; PostgreSQL is the South's peer and a file-writer the North. The
South password arrives RSA-encrypted; the history-queries message lists the query with that secret blank,
and the secret shows nowhere (API answers, messages, command results).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from history_support import history_body, minutes_table, postgres, sql_item
from oia_support import assert_secret_nowhere, registered_engine, wait_until
from servers.oianalytics import FakeOIAnalytics
from sql_servers import postgres_database
from test_commands_functional import Commands

PG_SECRET = "pg-pw-5e1d"
ITEM: dict[str, Any] = sql_item("minutes")["settings"]
SERIALIZATION: dict[str, Any] = ITEM["serialization"]


def items_csv(*rows: dict[str, str]) -> str:
    """A history items CSV (``name``, ``enabled`` and ``settings_<key>`` columns)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["name", "enabled", *[key for key in rows[0] if key != "name"]])
    writer.writeheader()
    for row in rows:
        writer.writerow({"enabled": "true", **row})
    return out.getvalue()


def history_command(fake: FakeOIAnalytics, database: str, output: Path, **extra: Any) -> dict[str, Any]:
    south = postgres(database, password=fake.encrypt(PG_SECRET))
    time_range = ("2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z", 3600)
    items = [{"id": None, "enabled": True, **sql_item("minutes")}]
    caching = {"trigger": {"scanModeId": "", "numberOfFiles": 1}, "archive": {"enabled": True}}
    body = history_body("backfill", time_range, south, output, items, caching=caching, northTransformers=[])
    return {**body, "description": "from OIA", **extra}


def test_every_history_query_command(tmp_path: Path) -> None:
    fake = FakeOIAnalytics()
    output = tmp_path / "out"
    output.mkdir()
    with postgres_database() as database, fake, registered_engine(tmp_path, fake) as engine:
        minutes_table(database, 1440)
        commands = Commands(fake, engine.ok("GET", "/api/engine/info")["version"])
        body = history_command(fake, database, output)
        commands.completed("create-history-query", "History query created successfully", commandContent=body)
        (query,) = engine.ok("GET", "/api/history-queries")
        history_id = query["id"]
        assert query["status"] == "PENDING"
        assert engine.ok("GET", f"/api/history-queries/{history_id}")["southSettings"]["password"] == ""

        # The history-queries message: the query, its secret blank.
        def listed() -> dict[str, Any] | None:
            for message in reversed(fake.history_messages):
                for entry in message["historyQueries"]:
                    if entry["oIBusInternalId"] == history_id:
                        return dict(entry)
            return None

        entry = wait_until(listed, what="the query in a history-queries message")
        assert entry["settings"]["southSettings"]["password"] == ""
        assert entry["settings"]["items"][0]["name"] == "minutes"

        ids = {"historyId": history_id}
        commands.completed(
            "test-history-query-south-connection", '{"items":[]}', southConnectorId="", commandContent=body, **ids
        )
        commands.completed(
            "test-history-query-north-connection", '{"items":[]}', northConnectorId="", commandContent=body, **ids
        )
        commands.errored(
            "test-history-query-south-connection",
            "oibus_nowhere",
            commandContent={**body, "southSettings": {**body["southSettings"], "database": "oibus_nowhere"}},
            **ids,
        )
        item_test = {
            "historyCommand": body,
            "itemCommand": {"name": "minutes", "enabled": True, "settings": ITEM},
            "testingSettings": {"history": {"startTime": "2025-01-01T00:00:00Z", "endTime": "2025-01-01T00:10:00Z"}},
        }
        tested = commands.completed("test-history-query-south-item", itemId="", commandContent=item_test, **ids)
        raw = json.loads(tested["result"])["raw"]
        assert raw["type"] == "any-content" and len(raw["content"].strip().splitlines()) == 11, raw

        csv_content = items_csv(
            {
                "name": "hours",
                "settings_query": f"{ITEM['query']} LIMIT 24",
                "settings_dateTimeFields": json.dumps(ITEM["dateTimeFields"]),
                "settings_serialization": json.dumps({**SERIALIZATION, "filename": "hours-@QueryStartTime.csv"}),
            }
        )
        commands.completed(
            "create-or-update-history-query-south-items-from-csv",
            "1 items imported on History query backfill",
            deleteItemsNotPresent=False,
            csvContent=csv_content,
            delimiter=",",
            **ids,
        )
        names = sorted(item["name"] for item in engine.ok("GET", f"/api/history-queries/{history_id}/items"))
        assert names == ["hours", "minutes"]
        commands.errored(
            "create-or-update-history-query-south-items-from-csv",
            "line 2",
            deleteItemsNotPresent=False,
            csvContent="name,enabled,settings_query\nbad,maybe,SELECT 1\n",
            delimiter=",",
            **ids,
        )

        # Status: running to the end; FINISHED is the engine's to set, not a command's.
        commands.completed("update-history-query-status", "History query started", historyQueryStatus="RUNNING", **ids)
        wait_until(
            lambda: engine.ok("GET", f"/api/history-queries/{history_id}")["status"] == "FINISHED",
            120,
            "history query FINISHED",
        )
        commands.errored("update-history-query-status", "RUNNING or PAUSED", historyQueryStatus="FINISHED", **ids)

        # Cache: the sent files wait in the archive.
        cache_ids = {"historyQueryId": history_id}
        found = json.loads(commands.completed("search-history-cache-content", commandContent={}, **cache_ids)["result"])
        archived = [entry["filename"] for entry in found["archive"]]
        assert len(archived) == 2 * 24, found  # one file per hourly window of each item
        content = {"folder": "archive", "filename": archived[0]}
        read = json.loads(
            commands.completed("get-history-cache-file-content", commandContent=content, **cache_ids)["result"]
        )
        assert read["contentType"] == "csv" and read["content"].startswith("ts,value"), read
        commands.errored(
            "get-history-cache-file-content",
            "No entry",
            commandContent={"folder": "archive", "filename": "nothing-here"},
            **cache_ids,
        )
        commands.completed(
            "update-history-cache-content",
            "Cache updated successfully",
            commandContent={"archive": {"remove": archived[:5], "move": []}},
            **cache_ids,
        )
        after = json.loads(commands.completed("search-history-cache-content", commandContent={}, **cache_ids)["result"])
        assert len(after["archive"]) == len(archived) - 5

        # Update (reset its cache), pause, delete.
        changed = history_command(fake, database, output, description="changed")
        changed["items"] = engine.ok("GET", f"/api/history-queries/{history_id}")["items"]
        changed["southSettings"]["password"] = ""  # kept
        commands.completed(
            "update-history-query",
            "History query updated successfully",
            commandContent={"resetCache": True, "historyQuery": changed},
            **ids,
        )
        assert engine.ok("GET", f"/api/history-queries/{history_id}")["description"] == "changed"
        assert not (engine.data_dir / "archive" / f"history-{history_id}").exists()
        commands.errored(
            "update-history-query",
            "queryTimeRange.endTime",
            commandContent={"resetCache": False, "historyQuery": {**changed, "queryTimeRange": {
                "startTime": "2025-01-02T00:00:00Z", "endTime": "2025-01-01T00:00:00Z"}}},
            **ids,
        )  # fmt: skip
        commands.completed("update-history-query-status", "History query paused", historyQueryStatus="PAUSED", **ids)
        assert engine.ok("GET", f"/api/history-queries/{history_id}")["status"] == "PAUSED"
        commands.completed("delete-history-query", "History query deleted successfully", **ids)
        assert engine.ok("GET", "/api/history-queries") == []
        commands.errored("delete-history-query", "not found", **ids)
        assert_secret_nowhere(PG_SECRET, engine, fake)
        assert PG_SECRET not in json.dumps(fake.history_messages)
