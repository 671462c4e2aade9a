"""``/api/logs``: worker-style records written by the pipeline, queried over HTTP with every filter."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from aiohttp.test_utils import TestClient, TestServer
from config_fakes import AUTH, Client, RecordingRuntime, store_fixture  # noqa: F401

from engine.api import EngineInfo, create_app
from engine.api.keys import LOGS
from engine.api.routes_logs import routes
from engine.config import ConfigStore
from engine.config.models import LoggerSettings
from engine.logs import LogPipeline, LogStore


def _settings() -> LoggerSettings:
    return msgspec.convert(
        {"console": {"level": "silent"}, "file": {"level": "silent"}, "database": {"level": "trace"}}, LoggerSettings
    )


def _write_logs(store: ConfigStore) -> None:
    """What workers and the engine log, relayed as the engine does (level name, event, bound fields)."""
    with LogPipeline(store.data_dir, "Test Bus") as pipeline:
        pipeline.start(_settings())
        relay = pipeline.get_logger("engine.worker")
        plc = relay.bind(scopeType="south", scopeId="s1", scopeName="PLC one")
        files = relay.bind(scopeType="north", scopeId="n1", scopeName="Files")
        plc.log("info", "connected", host="plc.local")
        plc.log("debug", "item read", itemId="i1", itemName="Temperature", groupId="g1", groupName="Line A")
        plc.log("warning", "item slow", itemId="i2", itemName="Pressure", groupId="g1", groupName="Line A")
        plc.log("error", "item failed", itemId="i3", itemName="Level", groupId="g2", groupName="Line B")
        files.log("info", "file sent", filename="100%_done.csv")
        files.log("trace", "cache scanned")
        relay.log("info", "history step", scopeType="history", scopeId="h1", scopeName="Backfill")
        pipeline.get_logger("engine").info("oibus fully started", port=2223)
        for index in range(60):
            files.log("debug", "value batch", seq=index)
        assert pipeline.flush()


@pytest.fixture(name="client")
async def client_fixture(store: ConfigStore) -> AsyncIterator[Client]:
    _write_logs(store)
    app = create_app(store, RecordingRuntime(), EngineInfo(data_directory=store.data_dir, launcher_version="3.9.0"))
    app.router.add_routes(routes)
    app[LOGS] = LogStore(store.data_dir)
    async with TestClient(TestServer(app)) as client:
        yield client


async def get(client: Client, path: str, **params: Any) -> Any:
    response = await client.get(path, params=params, headers=AUTH)
    assert response.status == 200, await response.text()
    return await response.json()


async def messages(client: Client, query: str) -> list[str]:
    response = await client.get(f"/api/logs?{query}", headers=AUTH)
    assert response.status == 200, await response.text()
    return [log["message"] for log in (await response.json())["content"]]


async def test_page_shape_newest_first(client: Client) -> None:
    page = await get(client, "/api/logs")
    assert (page["size"], page["number"], page["totalElements"], page["totalPages"]) == (50, 0, 68, 2)
    assert len(page["content"]) == 50
    assert page["content"][0]["message"] == "value batch seq=59"
    assert page["content"][0] == {
        "timestamp": page["content"][0]["timestamp"],
        "level": "debug",
        "scopeType": "north",
        "scopeId": "n1",
        "scopeName": "Files",
        "message": "value batch seq=59",
        "itemId": None,
        "itemName": None,
        "groupId": None,
        "groupName": None,
    }
    timestamps = [log["timestamp"] for log in page["content"]]
    assert timestamps == sorted(timestamps, reverse=True)
    second = await get(client, "/api/logs", page="1")
    assert (second["number"], len(second["content"])) == (1, 18)
    assert second["content"][-1]["message"] == "connected host=plc.local"
    assert (await get(client, "/api/logs", page="5"))["content"] == []


async def test_filters(client: Client) -> None:
    assert await messages(client, "levels=error&levels=warn") == ["item failed", "item slow"]
    assert await messages(client, "levels=error,warn") == ["item failed", "item slow"]
    assert await messages(client, "levels=trace") == ["cache scanned"]
    assert await messages(client, "scopeIds=s1&levels=info") == ["connected host=plc.local"]
    assert await messages(client, "scopeTypes=history-query") == ["history step"]
    assert await messages(client, "scopeTypes=internal") == ["oibus fully started port=2223"]
    assert await messages(client, "scopeTypes=south,history-query&levels=info") == [
        "history step",
        "connected host=plc.local",
    ]
    assert await messages(client, "itemIds=i1,i3") == ["item failed", "item read"]
    assert await messages(client, "groupIds=g1") == ["item slow", "item read"]
    assert await messages(client, "groupIds=g1&itemIds=i2") == ["item slow"]
    # LIKE wildcards in the search text are literal; the search ignores case.
    assert await messages(client, "messageContent=100%25_DONE") == ["file sent filename=100%_done.csv"]
    assert await messages(client, "messageContent=%25") == ["file sent filename=100%_done.csv"]
    assert await messages(client, "scopeIds=unknown") == []


async def test_item_and_group_columns(client: Client) -> None:
    (log,) = (await get(client, "/api/logs", itemIds="i2"))["content"]
    assert (log["level"], log["itemId"], log["itemName"], log["groupId"], log["groupName"]) == (
        "warn",
        "i2",
        "Pressure",
        "g1",
        "Line A",
    )


async def test_time_window(client: Client, store: ConfigStore) -> None:
    conn = sqlite3.connect(store.data_dir / "logs" / "logs.db")
    with conn:
        conn.executemany(
            "INSERT INTO logs (timestamp, level, scope_type, message) VALUES (?, 'info', 'internal', ?)",
            [
                ("2024-03-01T10:00:00.000Z", "early"),
                ("2024-03-01T11:00:00.000Z", "middle"),
                ("2024-03-01T12:00:00.000Z", "late"),
            ],
        )
    conn.close()
    window = "start=2024-03-01T10:30:00Z&end=2024-03-01T12:00:00.000Z"
    assert await messages(client, window) == ["late", "middle"]
    # An offset is converted to UTC; no offset means UTC.
    assert await messages(client, "start=2024-03-01T11:30:00%2B01:00&end=2024-03-01T11:00:00") == ["middle"]
    # Without a window: the last 24 hours only.
    assert "early" not in await messages(client, "scopeTypes=internal")


async def test_scope_item_group_suggestions(client: Client) -> None:
    assert await get(client, "/api/logs/scopes/suggest", name="") == [
        {"scopeId": "h1", "scopeName": "Backfill"},
        {"scopeId": "n1", "scopeName": "Files"},
        {"scopeId": "s1", "scopeName": "PLC one"},
    ]
    assert await get(client, "/api/logs/scopes/suggest", name="plc") == [{"scopeId": "s1", "scopeName": "PLC one"}]
    assert await get(client, "/api/logs/scopes/s1") == {"scopeId": "s1", "scopeName": "PLC one"}
    assert await get(client, "/api/logs/items/suggest", name="ure", scopeId="s1") == [
        {"itemId": "i2", "itemName": "Pressure"},
        {"itemId": "i1", "itemName": "Temperature"},
    ]
    assert await get(client, "/api/logs/items/suggest", name="e", scopeId="n1") == []
    assert await get(client, "/api/logs/items/i3") == {"itemId": "i3", "itemName": "Level"}
    assert await get(client, "/api/logs/groups/suggest", name="line") == [
        {"groupId": "g1", "groupName": "Line A"},
        {"groupId": "g2", "groupName": "Line B"},
    ]
    assert await get(client, "/api/logs/groups/suggest", scopeId="n1") == []
    assert await get(client, "/api/logs/groups/g2") == {"groupId": "g2", "groupName": "Line B"}


@pytest.mark.parametrize("path", ["/api/logs/scopes/nope", "/api/logs/items/nope", "/api/logs/groups/nope"])
async def test_unknown_ids_are_404(client: Client, path: str) -> None:
    response = await client.get(path, headers=AUTH)
    assert response.status == 404
    assert "nope" in (await response.json())["message"]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("levels=loud", "levels"),
        ("scopeTypes=engine", "scopeTypes"),
        ("start=yesterday", "start"),
        ("end=2024-13-01", "end"),
        ("page=-1", "page"),
        ("page=two", "page"),
    ],
)
async def test_bad_parameters_are_400(client: Client, query: str, named: str) -> None:
    response = await client.get(f"/api/logs?{query}", headers=AUTH)
    assert response.status == 400
    assert named in (await response.json())["message"]


async def test_logs_need_authentication(client: Client) -> None:
    assert (await client.get("/api/logs")).status == 401
