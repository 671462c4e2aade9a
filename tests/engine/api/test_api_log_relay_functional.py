"""Log relay: another OIBus's Loki sink pushes to ``/logs``; each line is logged here with the sender's labels."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp.test_utils import TestClient, TestServer
from config_fakes import AUTH, Client, RecordingRuntime, store_fixture  # noqa: F401

from engine.api import EngineInfo, create_app
from engine.api.keys import LOG_PIPELINE, LOGS
from engine.api.log_relay import routes as relay_routes
from engine.api.routes_logs import routes as logs_routes
from engine.config import ConfigStore
from engine.config.models import LoggerSettings
from engine.logs import LogPipeline, LogStore


@dataclass
class Receiver:
    client: Client
    pipeline: LogPipeline

    async def logs(self, query: str = "") -> list[dict[str, Any]]:
        assert await asyncio.to_thread(self.pipeline.flush)
        response = await self.client.get(f"/api/logs?{query}", headers=AUTH)
        assert response.status == 200, await response.text()
        page: list[dict[str, Any]] = (await response.json())["content"]
        return page


def settings(**sinks: Any) -> LoggerSettings:
    base = {"console": {"level": "silent"}, "file": {"level": "silent"}, "database": {"level": "silent"}}
    return msgspec.convert({**base, **sinks}, LoggerSettings)


@pytest.fixture(name="receiver")
async def receiver_fixture(store: ConfigStore) -> AsyncIterator[Receiver]:
    with LogPipeline(store.data_dir, "IT") as pipeline:
        # The receiver keeps info and above in its database: relayed debug lines must not appear.
        pipeline.start(settings(database={"level": "info"}))
        app = create_app(store, RecordingRuntime(), EngineInfo(data_directory=store.data_dir))
        app.router.add_routes(relay_routes)
        app.router.add_routes(logs_routes)
        app[LOGS] = LogStore(store.data_dir)
        app[LOG_PIPELINE] = pipeline
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            yield Receiver(client, pipeline)


async def test_an_oibus_loki_sink_relays_through_logs(receiver: Receiver, tmp_path: Path) -> None:
    address = f"http://127.0.0.1:{receiver.client.port}/logs"
    with LogPipeline(tmp_path / "ot", "OT-OIBus") as sender:
        loki = {"level": "debug", "interval": 1, "address": address, "username": "admin", "password": "pass"}
        sender.start(settings(loki=loki))
        plc = sender.get_logger("engine.worker").bind(scopeType="south", scopeId="s1", scopeName="PLC")
        plc.log("info", "connected", host="plc.local")
        plc.log("warning", "item slow", itemId="i2", itemName="Pressure")
        plc.log("debug", "item read")
        sender.get_logger("engine").error("disk almost full", free_mb=12)
        assert await asyncio.to_thread(sender.flush)
    logs = await receiver.logs()
    by_message = {log["message"]: log for log in logs}
    assert set(by_message) == {
        "connected host=plc.local name=OT-OIBus",
        "item slow itemName=Pressure itemId=i2 name=OT-OIBus",
        "disk almost full free_mb=12 name=OT-OIBus",
    }
    slow = by_message["item slow itemName=Pressure itemId=i2 name=OT-OIBus"]
    assert (slow["level"], slow["scopeType"], slow["scopeId"], slow["scopeName"]) == ("warn", "south", "s1", "PLC")
    assert by_message["disk almost full free_mb=12 name=OT-OIBus"]["level"] == "error"
    assert by_message["disk almost full free_mb=12 name=OT-OIBus"]["scopeType"] == "internal"


async def test_v2_and_v3_pushes(receiver: Receiver) -> None:
    v2 = {
        "streams": [
            {
                "stream": {"oibus": "OIBus-OT", "level": "warn", "scope": "MQTT", "source": "south"},
                "values": [["1700000000000000000", "broker unreachable"], ["1700000001000000000", "retrying"]],
            },
            {"stream": {"oibus": "OIBus-OT", "level": "debug"}, "values": [["1700000002000000000", "noise"]]},
        ]
    }
    v3 = {
        "streams": [
            {
                "stream": {
                    "oibus": "OT3",
                    "scopeType": "north",
                    "scopeId": "n9",
                    "scopeName": "To IT",
                    "level": "error",
                },
                "values": [["1700000003000000000", "send failed"]],
            }
        ]
    }
    assert (await receiver.client.post("/logs", json=v2, headers=AUTH)).status == 204
    assert (await receiver.client.post("/api/logs", json=v3, headers=AUTH)).status == 204
    logs = await receiver.logs("start=2023-11-14T00:00:00Z")
    # Each line keeps its own instant (2023-11-14T22:13:20Z for 1700000000 s).
    assert [(log["timestamp"], log["level"], log["message"]) for log in logs] == [
        ("2023-11-14T22:13:23.000Z", "error", "send failed oibus=OT3"),
        ("2023-11-14T22:13:21.000Z", "warn", "retrying oibus=OIBus-OT scope=MQTT source=south"),
        ("2023-11-14T22:13:20.000Z", "warn", "broker unreachable oibus=OIBus-OT scope=MQTT source=south"),
    ]
    assert (logs[0]["scopeType"], logs[0]["scopeId"], logs[0]["scopeName"]) == ("north", "n9", "To IT")


async def test_bad_pushes_are_refused_with_the_field(receiver: Receiver) -> None:
    cases: list[tuple[Any, str]] = [
        ({"streams": [{"stream": {}, "values": [["soon", "x"]]}]}, "streams[0].values[0][0]"),
        ({"streams": [{"stream": {"level": 3}, "values": []}]}, "streams[0].stream[...]"),
        ({"streams": [{"stream": {}, "values": [["1"]]}]}, "streams[0].values[0]"),
        ([], "body"),
    ]
    for body, field in cases:
        response = await receiver.client.post("/logs", json=body, headers=AUTH)
        assert response.status == 400, body
        assert list((await response.json())["errors"]) == [field]
    garbage = await receiver.client.post("/api/logs", data=b"{", headers=AUTH)
    assert garbage.status == 400 and "Invalid JSON" in (await garbage.json())["message"]
    assert (await receiver.client.post("/logs", json={"streams": []})).status == 401
    assert await receiver.logs() == []
