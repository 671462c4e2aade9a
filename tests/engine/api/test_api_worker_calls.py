"""The routes that ask a connector's worker, against a scripted runtime: what they send, how they answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from config_fakes import (  # noqa: F401
    AUTH,
    Client,
    RecordingRuntime,
    client_fixture,
    create_connector,
    north_body,
    south_body,
    store_fixture,
)

from engine.cache.south import SouthCacheDB
from engine.config import ConfigStore
from engine.supervisor.worker import WorkerGone


@dataclass
class ScriptedRuntime(RecordingRuntime):
    """Answers worker requests with ``answer`` (or raises ``error``) and keeps what they carried."""

    answer: Any = None
    error: BaseException | None = None
    sent: list[tuple[str, dict[str, Any], float]] = field(default_factory=list)

    async def worker_request(
        self, kind: str, connector_id: str, method: str, params: dict[str, Any] | None = None, timeout_s: float = 30.0
    ) -> Any:
        self.sent.append((f"{kind}:{connector_id}:{method}", params or {}, timeout_s))
        if self.error is not None:
            raise self.error
        return self.answer

    async def north_cache_request(
        self, north_id: str, method: str, params: dict[str, Any], timeout_s: float = 60.0
    ) -> Any:
        return await self.worker_request("north", north_id, method, params, timeout_s)


@pytest.fixture(name="runtime")
def scripted_runtime() -> ScriptedRuntime:
    return ScriptedRuntime()


async def test_connection_test_sends_candidate_settings_with_the_stored_secrets(
    client: Client, store: ConfigStore, runtime: ScriptedRuntime
) -> None:
    south_id = (await create_connector(client, "south", south_body(store)))["id"]
    url = f"/api/south/{south_id}/test/connection"
    candidate = {"host": "other.local", "password": "", "auth": {"username": "v", "token": ""}}

    assert (await client.post(url, json={"type": "test-south", "settings": candidate}, headers=AUTH)).status == 204
    assert (await client.post(f"{url}?southType=test-south", json=candidate, headers=AUTH)).status == 204
    assert (await client.post(url, headers=AUTH)).status == 204
    first, bare, stored = runtime.sent
    assert first[0] == f"south:{south_id}:test_connection" and first[2] == 30.0
    # Validated, defaults filled in, empty secrets replaced by the stored ones (decrypted, for the worker only).
    assert first[1] == {
        "settings": {
            "host": "other.local",
            "port": 502,
            "password": "s3cret-pw",
            "auth": {"username": "v", "token": "tok-1"},
            "endpoints": [],
        }
    }
    assert bare[1] == first[1]
    assert stored[1] == {}

    answer = await client.post(url, json={"settings": {"host": "", "port": 0}}, headers=AUTH)
    assert answer.status == 400
    assert set((await answer.json())["errors"]) == {"settings.host", "settings.port"}
    answer = await client.post(f"{url}?southType=other", headers=AUTH)
    assert answer.status == 400 and "type" in (await answer.json())["errors"]
    assert (await client.post("/api/south/ghost/test/connection", headers=AUTH)).status == 404
    assert len(runtime.sent) == 3


@pytest.mark.parametrize(
    ("error", "status", "message"),
    [
        (RuntimeError("output folder /x does not exist"), 400, "output folder /x does not exist"),
        (TimeoutError(), 400, "did not answer within 30 s"),
        (WorkerGone("north:x"), 409, "is not running (state RUNNING): connection tests run in the connector's worker"),
    ],
)
async def test_connection_test_failures(
    client: Client, store: ConfigStore, runtime: ScriptedRuntime, error: BaseException, status: int, message: str
) -> None:
    north_id = (await create_connector(client, "north", north_body(store)))["id"]
    runtime.error = error
    answer = await client.post(f"/api/north/{north_id}/test/connection", headers=AUTH)
    assert answer.status == status
    assert message in (await answer.json())["message"]


async def test_item_test_sends_the_item_and_answers_the_workers_content(
    client: Client, store: ConfigStore, runtime: ScriptedRuntime
) -> None:
    body = south_body(store, items=1)
    body["items"][0]["settings"]["key"] = "item-secret"
    south = await create_connector(client, "south", body)
    south_id, item_id = south["id"], south["items"][0]["id"]
    content = {"type": "time-values", "content": [{"pointId": "t", "timestamp": "x", "data": {"value": 1}}]}
    runtime.answer = content
    command = {
        "southSettings": {"host": "h2", "password": ""},
        "itemSettings": {"address": "%MW9", "key": ""},
        "testingSettings": {"history": {"startTime": "2024-01-01T01:00:00+01:00", "endTime": "2024-01-02T00:00:00Z"}},
    }

    answer = await client.post(
        f"/api/south/{south_id}/items/test?itemName=t&itemId={item_id}", json=command, headers=AUTH
    )

    assert answer.status == 200 and await answer.json() == content
    ((what, params, timeout_s),) = runtime.sent
    assert what == f"south:{south_id}:test_item" and timeout_s == 120.0
    assert params == {
        "item": {"id": item_id, "name": "t", "settings": {"address": "%MW9", "scale": 1.0, "key": "item-secret"}},
        "settings": {
            "host": "h2",
            "port": 502,
            "password": "s3cret-pw",
            # Left out, ``auth`` takes its default, whose empty token means the stored one too.
            "auth": {"username": "", "token": "tok-1"},
            "endpoints": [],
        },
        "startTime": "2024-01-01T00:00:00.000Z",
        "endTime": "2024-01-02T00:00:00.000Z",
    }

    # Without southSettings the worker uses the running ones; a new item has no stored secret.
    assert (
        await client.post(f"/api/south/{south_id}/items/test", json={"itemSettings": {"address": "A"}}, headers=AUTH)
    ).status == 200
    assert runtime.sent[-1][1] == {
        "item": {"id": None, "name": "test", "settings": {"address": "A", "scale": 1.0, "key": ""}}
    }
    missing = await client.post(
        f"/api/south/{south_id}/items/test?itemId=ghost", json={"itemSettings": {"address": "A"}}, headers=AUTH
    )
    assert missing.status == 404
    bad = await client.post(f"/api/south/{south_id}/items/test", json={"itemSettings": {}}, headers=AUTH)
    assert bad.status == 400 and set((await bad.json())["errors"]) == {"itemSettings.address"}
    for start, end, problem in [
        ("2024-01-01T00:00:00", "2024-01-02T00:00:00Z", "testingSettings.history.startTime"),
        ("2024-01-02T00:00:00Z", "2024-01-01T00:00:00Z", "testingSettings.history.endTime"),
        ("0001-01-01T00:00:00+01:00", "2024-01-01T00:00:00Z", "testingSettings.history"),
    ]:
        window = {"history": {"startTime": start, "endTime": end}}
        body = {"itemSettings": {"address": "A"}, "testingSettings": window}
        bad = await client.post(f"/api/south/{south_id}/items/test", json=body, headers=AUTH)
        assert bad.status == 400 and set((await bad.json())["errors"]) == {problem}
    assert len(runtime.sent) == 2


async def test_last_value_reads_the_south_cache(client: Client, store: ConfigStore) -> None:
    south = await create_connector(client, "south", south_body(store, items=2))
    south_id, first, second = south["id"], south["items"][0], south["items"][1]
    url = f"/api/south/{south_id}/items/{first['id']}/last-value"
    assert (await client.get(url, headers=AUTH)).status == 404  # No cache.db yet: and none is created.
    assert not (store.data_dir / "cache" / "cache.db").exists()

    with SouthCacheDB(store.data_dir / "cache" / "cache.db") as db:
        db.for_south(south_id).set_value(first["id"], [{"filename": "a.csv", "modifiedTime": 1}])
        db.for_south(south_id).set_tracked_instant(first["id"], datetime(2024, 1, 1, tzinfo=UTC))

    answer = await client.get(url, headers=AUTH)
    assert answer.status == 200
    found = await answer.json()
    assert found.pop("queryTime").endswith("Z")
    assert found == {
        "itemId": first["id"],
        "itemName": first["name"],
        "groupId": None,
        "groupName": None,
        "value": [{"filename": "a.csv", "modifiedTime": 1}],
        "trackedInstant": "2024-01-01T00:00:00.000Z",
    }
    answer = await client.get(f"/api/south/{south_id}/items/{second['id']}/last-value", headers=AUTH)
    assert answer.status == 404 and "No value recorded yet" in (await answer.json())["message"]
    assert (await client.get(f"/api/south/{south_id}/items/ghost/last-value", headers=AUTH)).status == 404


async def test_north_cache_routes_translate_queries_and_answers(
    client: Client, store: ConfigStore, runtime: ScriptedRuntime
) -> None:
    north_id = (await create_connector(client, "north", north_body(store)))["id"]
    base = f"/api/north/{north_id}/cache"
    runtime.answer = {"cache": [], "error": [], "archive": []}

    query = "?nameContains=csv&start=2024-01-01T02:00:00%2B02:00&end=2024-01-02T00:00:00&maxNumberOfFilesReturned=0"
    answer = await client.get(f"{base}/search{query}", headers=AUTH)
    assert answer.status == 200 and await answer.json() == runtime.answer
    await client.get(f"{base}/search", headers=AUTH)
    (_, searched, _), (_, default, _) = runtime.sent
    assert searched == {
        "nameContains": "csv",
        "start": "2024-01-01T00:00:00.000Z",
        "end": "2024-01-02T00:00:00.000Z",
        "maxNumberOfFilesReturned": 0,
    }
    assert default == {"nameContains": None, "start": None, "end": None, "maxNumberOfFilesReturned": 1000}

    runtime.answer = None
    assert (await client.get(f"{base}/content/abc?folder=error", headers=AUTH)).status == 404
    assert runtime.sent[-1][1] == {"folder": "error", "filename": "abc", "maxBytes": 2 * 1024 * 1024}
    runtime.answer = {"contentFile": "data.json", "contentSize": 10, "content": b"[1,2", "truncated": True}
    answer = await client.get(f"{base}/content/abc", headers=AUTH)
    assert answer.status == 200 and await answer.read() == b"[1,2"
    assert answer.content_type == "application/json"
    assert (answer.headers["X-Content-Truncated"], answer.headers["X-Content-Size"]) == ("true", "10")
    assert answer.headers["Content-Disposition"] == 'inline; filename="data.json"'
    assert runtime.sent[-1][1]["folder"] == "cache"

    command = {"error": {"remove": ["e1"], "move": [{"filename": "e2", "to": "cache"}]}}
    assert (await client.post(f"{base}/update", json=command, headers=AUTH)).status == 204
    assert runtime.sent[-1][1] == {
        "cache": {"remove": [], "move": []},
        "error": {"remove": ["e1"], "move": [{"filename": "e2", "to": "cache"}]},
        "archive": {"remove": [], "move": []},
    }
    sent = len(runtime.sent)
    assert (await client.get(f"{base}/search?maxNumberOfFilesReturned=-1", headers=AUTH)).status == 400
    assert (await client.get(f"{base}/search?start=0001-01-01T00:00:00%2B01:00", headers=AUTH)).status == 400
    assert (await client.get(f"{base}/search?end=soon", headers=AUTH)).status == 400
    assert (await client.get(f"{base}/content/abc?folder=trash", headers=AUTH)).status == 400
    assert (
        await client.post(f"{base}/update", json={"cache": {"move": [{"filename": "x"}]}}, headers=AUTH)
    ).status == 400
    assert (await client.get("/api/north/ghost/cache/search", headers=AUTH)).status == 404
    assert len(runtime.sent) == sent

    runtime.error = WorkerGone(f"north:{north_id}")
    answer = await client.get(f"{base}/search", headers=AUTH)
    assert answer.status == 409
    assert (await answer.json())["message"] == (
        f"North {north_id} is not running (state RUNNING): its cache is managed by its worker, which is not connected"
    )
    runtime.error = TimeoutError()
    assert (await client.post(f"{base}/update", json={}, headers=AUTH)).status == 503
