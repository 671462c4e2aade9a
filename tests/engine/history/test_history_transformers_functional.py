"""A history query's ``northTransformers`` route its South's content as a North's rules do, in a real engine.

Two items read the same PostgreSQL table; a rule ``ignore`` names one of them, so only the other one's CSV
files reach the file-writer North, and the query still FINISHES (an ignored window is acknowledged, so its
tracked instant moves on). Bad rules are refused naming the field; the API and the OIAnalytics message
show the rules with their items.
"""

from __future__ import annotations

from pathlib import Path

from config_fakes import FAST_HASHER
from engine_process import EngineProcess
from history_support import history_body, minutes_table, postgres, sql_item, wait_for_status
from sql_servers import postgres_database

from engine.config import ConfigStore
from engine.oianalytics.messages import history_queries

TIME_RANGE = ("2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z", 3600)


def test_an_ignore_rule_drops_one_items_content_and_the_query_finishes(tmp_path: Path) -> None:
    output = tmp_path / "out"
    output.mkdir()
    with postgres_database() as database:
        minutes_table(database, 1440)
        items = [sql_item("kept"), sql_item("dropped")]
        engine = EngineProcess(tmp_path / "data").start()
        try:
            bad = history_body(
                "rules", TIME_RANGE, postgres(database), output, items,
                northTransformers=[{"transformerId": "no-such"}, {"transformerId": "ignore", "items": [{"name": "x"}]}],
            )  # fmt: skip
            status, answer = engine.request("POST", "/api/history-queries", bad)
            assert status == 400, answer
            text = str(answer)
            assert "northTransformers[0].transformerId" in text and "no-such" in text
            assert "northTransformers[1].items[0]" in text

            rules = [{"transformerId": "ignore", "options": {}, "items": [{"name": "dropped"}]}]
            body = history_body("rules", TIME_RANGE, postgres(database), output, items, northTransformers=rules)
            query = engine.ok("POST", "/api/history-queries", body)
            dropped = next(item for item in query["items"] if item["name"] == "dropped")
            (rule,) = query["northTransformers"]
            assert rule["transformer"]["id"] == "ignore"
            assert [ref["id"] for ref in rule["items"]] == [dropped["id"]]

            engine.ok("POST", f"/api/history-queries/{query['id']}/start")
            wait_for_status(engine, query["id"], "FINISHED", 90)
        finally:
            if engine.proc is not None and engine.proc.poll() is None:
                assert engine.stop() == 0, engine.log()
    names = sorted(path.name for path in output.glob("*.csv"))
    assert len(names) == 24 and all(name.startswith("kept-") for name in names), names
    store = ConfigStore.open(tmp_path / "data", init=None, password_hasher=FAST_HASHER)
    try:
        (listed,) = history_queries(store)["historyQueries"]
    finally:
        store.close()
    (sent,) = listed["settings"]["northTransformers"]
    assert sent["transformerId"] == "ignore" and [item["name"] for item in sent["items"]] == ["dropped"]
