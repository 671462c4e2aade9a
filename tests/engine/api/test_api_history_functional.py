"""``/api/history-queries`` on a real engine: errors naming fields, 404s, items as CSV, status, tests, cache.

PostgreSQL is the South's peer (a query that FINISHES, a test that fails with the driver's words).
"""

from __future__ import annotations

import urllib.request
import uuid
from pathlib import Path
from typing import Any

from engine_process import AUTH, EngineProcess, running_engine, wait_for
from sql_servers import postgres_database, psql

SECRET = "pg-pw-9d2a"
ITEM: dict[str, Any] = {
    "query": "SELECT ts, value FROM data WHERE ts > @StartTime AND ts <= @EndTime ORDER BY ts",
    "dateTimeFields": [{"fieldName": "ts", "useAsReference": True, "type": "timestamptz"}],
    "serialization": {"filename": "@ItemName-@QueryStartTime.csv", "outputTimezone": "UTC"},
}


def body(database: str, output: Path, **extra: Any) -> dict[str, Any]:
    return {
        "name": "backfill",
        "queryTimeRange": {
            "startTime": "2025-01-01T00:00:00Z",
            "endTime": "2025-01-01T06:00:00Z",
            "maxReadInterval": 3600,
            "readDelay": 0,
        },
        "southType": "postgresql",
        "southSettings": {"host": "127.0.0.1", "database": database, "username": "postgres", "password": SECRET},
        "northType": "file-writer",
        "northSettings": {"outputFolder": str(output), "prefix": "", "suffix": ""},
        "items": [{"name": "minutes", "settings": ITEM}],
        **extra,
    }


def raw_call(
    engine: EngineProcess, method: str, path: str, data: bytes | None = None, **headers: str
) -> tuple[int, bytes]:
    request = urllib.request.Request(f"{engine.url}{path}", data=data, method=method)
    request.add_header("Authorization", AUTH)
    for name, value in headers.items():
        request.add_header(name.replace("_", "-"), value)
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def multipart(fields: dict[str, str]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    return ("".join(parts) + f"--{boundary}--\r\n").encode(), f"multipart/form-data; boundary={boundary}"


def test_history_query_routes(tmp_path: Path) -> None:
    output = tmp_path / "out"
    output.mkdir()
    with postgres_database() as database, running_engine(tmp_path / "data") as engine:
        psql(
            database,
            "CREATE TABLE data (ts timestamptz PRIMARY KEY, value bigint NOT NULL);"
            "INSERT INTO data SELECT '2025-01-01T00:00:00Z'::timestamptz + i * interval '1 minute', i "
            "FROM generate_series(1, 360) AS i",
        )
        base = "/api/history-queries"
        status, answer = engine.request("POST", base, body(database, output, southSettings={"port": 0}, items=[{}]))
        assert status == 400, answer
        assert {"southSettings.port", "items[0].name"} <= set(answer["errors"]), answer
        assert engine.ok("GET", base) == []
        for method, path in (("GET", "/x"), ("PUT", "/x"), ("DELETE", "/x"), ("POST", "/x/start"),
                             ("GET", "/x/items"), ("GET", "/x/cache/search"), ("POST", "/x/test/south")):  # fmt: skip
            assert engine.request(method, base + path, {} if method == "PUT" else None)[0] == 404, (method, path)

        created = engine.ok("POST", base, body(database, output))
        history_id = created["id"]
        path = f"{base}/{history_id}"
        assert created["southSettings"]["password"] == "" and SECRET not in str(engine.ok("GET", base))

        # Items, and the items as CSV both ways.
        item = engine.ok(
            "POST", f"{path}/items", {"name": "hours", "settings": {**ITEM, "query": ITEM["query"] + " LIMIT 1"}}
        )
        assert engine.ok("GET", f"{path}/items/{item['id']}")["name"] == "hours"
        assert engine.request("POST", f"{path}/items", {"name": "hours", "settings": ITEM})[0] == 400
        assert engine.request("POST", f"{path}/items/{item['id']}/disable")[0] == 204
        status, exported = raw_call(engine, "GET", f"{path}/items/export?delimiter=;")
        assert status == 200 and exported.decode().splitlines()[0].startswith("name;enabled;"), exported
        data, content_type = multipart(
            {"itemsToImport": exported.decode(), "delimiter": ";", "deleteItemsNotPresent": "true"}
        )
        assert raw_call(engine, "POST", f"{path}/items/import", data, Content_Type=content_type)[0] == 204
        items = engine.ok("GET", f"{path}/items")
        assert sorted((i["name"], i["enabled"]) for i in items) == [("hours", False), ("minutes", True)]
        data, content_type = multipart({"itemsToImport": "name,enabled\nbad,maybe\n"})
        status, problem = raw_call(engine, "POST", f"{path}/items/import", data, Content_Type=content_type)
        assert status == 400 and b"line 2.enabled" in problem, problem
        assert engine.request("DELETE", f"{path}/items/{item['id']}")[0] == 204

        # Tests: the stored settings, then settings that cannot work (the driver's words).
        assert engine.request("POST", f"{path}/test/south")[0] == 204
        assert engine.request("POST", f"{path}/test/north")[0] == 204
        status, failed = engine.request(
            "POST", f"{path}/test/south", {**body(database, output)["southSettings"], "database": "oibus_nowhere"}
        )
        assert status == 400 and "oibus_nowhere" in failed["message"], failed
        window = {"startTime": "2025-01-01T00:00:00Z", "endTime": "2025-01-01T00:05:00Z"}
        tested = engine.ok("POST", f"{path}/test/items", {"itemSettings": ITEM, "testingSettings": {"history": window}})
        assert tested["type"] == "any-content" and len(tested["content"].strip().splitlines()) == 6, tested

        # Run to the end; the cache of a stopped query is searched by the engine itself.
        assert engine.request("POST", f"{path}/start")[0] == 204
        wait_for(lambda: engine.ok("GET", path)["status"] == "FINISHED", 120, "FINISHED", poll_s=0.2)
        written = sorted(p.name for p in output.glob("*.csv"))
        assert len(written) == 6, written  # one file per hourly window
        found = engine.ok("GET", f"{path}/cache/search")
        assert found == {"cache": [], "error": [], "archive": []}
        assert engine.request("POST", f"{path}/cache/update", {"cache": {"remove": ["nothing"]}})[0] == 204
        assert engine.request("POST", f"{path}/pause")[0] == 204
        assert engine.ok("GET", path)["status"] == "PAUSED"
        assert (
            engine.request("PUT", f"{path}?resetCache=true", {**body(database, output), "description": "again"})[0]
            == 204
        )
        assert engine.ok("GET", path)["description"] == "again"
        assert engine.request("DELETE", path)[0] == 204
        assert engine.ok("GET", base) == []
        assert SECRET not in engine.log()
