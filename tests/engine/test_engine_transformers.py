"""The engine applies a North's transformer rules on the way in, and acks a source once every part is stored."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, cast

import pytest

from engine.engine import Engine, NorthSlot
from engine.ipc import Ack, Content, Message, Nack, Refused, Stored
from engine.routing.router import NorthRoute
from engine.runtime import IngestResult
from engine.states import WorkerState
from engine.supervisor.worker import Worker

VALUES = [
    {"pointId": "temperature", "timestamp": "2026-01-01T00:00:00.000Z", "data": {"value": 21.5}},
    {"pointId": "pressure", "timestamp": "2026-01-01T00:00:01.000Z", "data": {"value": 3}},
]


class FakeWorker:
    """The engine's view of a worker: connected, and keeping what it is sent."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.role = key.split(":", 1)[0]
        self.connected = True
        self.state = WorkerState.RUNNING
        self.generation = 1
        self.sent: list[Message] = []

    def send(self, message: Message) -> None:
        self.sent.append(message)


class NoConfig:
    """A store that has nothing (the test builds the engine's slots itself)."""

    def south(self, south_id: str) -> None:
        return None

    def north(self, north_id: str) -> None:
        return None


def add_north(engine: Engine, north_id: str, rules: list[dict[str, Any]], types: tuple[str, ...]) -> FakeWorker:
    worker = FakeWorker(f"north:{north_id}")
    route = NorthRoute.from_dto({"id": north_id, "transformers": rules}, types)
    engine.norths[north_id] = NorthSlot(route=route, worker=cast(Worker, worker))
    return worker


def contents(worker: FakeWorker) -> list[Content]:
    return [message for message in worker.sent if isinstance(message, Content)]


def answer(engine: Engine, worker: FakeWorker, *, refuse: str | None = None) -> None:
    for content in contents(worker):
        reply: Message = Stored(seq=content.seq) if refuse is None else Refused(seq=content.seq, reason=refuse)
        engine.on_message(cast(Worker, worker), reply)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return Engine(tmp_path, cast(Any, NoConfig()))


MQTT_RULE = {
    "id": "to-mqtt",
    "source": {"type": "oibus-api", "dataSourceId": "plant"},
    "transformer": {"id": "time-values-to-mqtt"},
    "options": {"mapping": [{"pointId": "temperature", "topic": "plant/temperature"}]},
}


async def test_api_values_reach_a_north_transformed(engine: Engine) -> None:
    north = add_north(engine, "mqtt", [MQTT_RULE], ("mqtt",))
    plain = add_north(engine, "files", [{**MQTT_RULE, "id": "iso", "transformer": {"id": "iso"}}], ("time-values",))
    task = asyncio.create_task(
        engine.ingest_values(json.dumps(VALUES).encode(), 2, data_source_id="plant", north_ids=None)
    )
    await asyncio.sleep(0)
    (sent,) = contents(north)
    assert sent.content_type == "mqtt" and sent.count == 1
    assert json.loads(sent.payload or b"") == [
        {"topic": "plant/temperature", "payload": '{"value":21.5,"timestamp":"2026-01-01T00:00:00.000Z"}'}
    ]
    (as_is,) = contents(plain)
    assert as_is.content_type == "time-values" and json.loads(as_is.payload or b"") == VALUES
    answer(engine, north)
    answer(engine, plain)
    result = await asyncio.wait_for(task, 5)
    assert sorted(result.stored) == ["files", "mqtt"]


async def test_a_mapping_that_matches_nothing_sends_nothing(engine: Engine) -> None:
    rule = {**MQTT_RULE, "options": {"mapping": [{"pointId": "elsewhere", "topic": "t"}]}}
    north = add_north(engine, "mqtt", [rule], ("mqtt",))
    result = await asyncio.wait_for(
        engine.ingest_values(json.dumps(VALUES).encode(), 2, data_source_id="plant", north_ids=None), 5
    )
    assert contents(north) == []
    assert result == IngestResult(stored=(), refused={}, ignored=True)


def south_rule(rule_id: str, transformer: str, items: list[str], options: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": rule_id,
        "source": {"type": "south", "southId": "s1", "items": [{"id": item} for item in items]},
        "transformer": {"id": transformer},
        "options": options,
    }


async def route_south(engine: Engine, refuse: str | None) -> tuple[list[Content], Message]:
    rules = [
        south_rule(
            "r1",
            "time-values-to-modbus",
            ["i1"],
            {"mapping": [{"pointId": "temperature", "address": "40001", "modbusType": "register"}]},
        ),
        south_rule("r2", "iso", ["i2"], {}),
    ]
    north = add_north(engine, "n1", rules, ("time-values", "modbus"))
    engine.fanout.south_item_ids["s1"] = {"temperature": "i1", "pressure": "i2"}
    south = FakeWorker("south:s1")
    content = Content(
        seq=7,
        source_id="s1",
        content_type="time-values",
        payload=json.dumps(VALUES).encode(),
        count=2,
        items=["i1", "i2"],
    )
    engine.on_message(cast(Worker, south), content)
    parts = contents(north)
    assert south.sent == []  # nothing acked before every part is stored
    answer(engine, north, refuse=refuse)
    (reply,) = south.sent
    return parts, reply


async def test_items_through_different_rules_are_split_and_acked_once_all_parts_are_stored(engine: Engine) -> None:
    parts, reply = await route_south(engine, refuse=None)
    by_type = {part.content_type: json.loads(part.payload or b"") for part in parts}
    assert by_type == {
        "modbus": [{"address": "40001", "value": 21.5, "modbusType": "register"}],
        "time-values": [VALUES[1]],
    }
    assert reply == Ack(seq=7)


async def test_one_refused_part_refuses_the_whole_content(engine: Engine) -> None:
    _, reply = await route_south(engine, refuse="cache full")
    assert isinstance(reply, Nack) and reply.seq == 7 and "cache full" in reply.reason


async def test_setpoints_follow_the_setpoint_rule(engine: Engine) -> None:
    rule = {
        "id": "sp",
        "source": {"type": "oianalytics-setpoint"},
        "transformer": {"id": "setpoint-to-opcua"},
        "options": {"mapping": [{"reference": "speed", "nodeId": "ns=2;s=Speed"}]},
    }
    north = add_north(engine, "opc", [rule], ("opcua",))
    other = add_north(engine, "other", [], ("opcua",))
    setpoints = [{"reference": "speed", "value": 1200}]
    task = asyncio.create_task(engine.ingest_setpoints(json.dumps(setpoints).encode(), 1, north_ids=["opc"]))
    await asyncio.sleep(0)
    (sent,) = contents(north)
    assert sent.content_type == "opcua" and json.loads(sent.payload or b"") == [
        {"nodeId": "ns=2;s=Speed", "value": 1200}
    ]
    assert contents(other) == []
    answer(engine, north)
    assert (await asyncio.wait_for(task, 5)).stored == ("opc",)


async def test_a_file_sent_through_a_values_transformer_is_dropped_with_one_warning(engine: Engine) -> None:
    rule = {**MQTT_RULE}
    north = add_north(engine, "mqtt", [rule], ("mqtt",))
    for _ in range(2):
        result = await asyncio.wait_for(engine.ingest_content(b'{"any": 1}', data_source_id="plant", north_ids=None), 5)
        assert result.stored == () and not result.refused
    assert contents(north) == []
    assert len(engine.fanout._transform_warnings) == 1


async def test_a_csv_file_becomes_time_values_and_values_become_a_csv_file(engine: Engine, tmp_path: Path) -> None:
    source = {"type": "oibus-api", "dataSourceId": "plant"}
    to_values = add_north(
        engine,
        "values",
        [{"id": "r1", "source": source, "transformerId": "csv-to-time-values", "options": {"delimiter": "COMMA"}}],
        ("time-values",),
    )
    upload = tmp_path / "upload.csv"
    upload.write_bytes(b"id,timestamp,value\ntemperature,2026-01-01T00:00:00.000Z,21.5\n")
    task = asyncio.create_task(engine.ingest_file(upload, "upload.csv", data_source_id="plant", north_ids=None))
    await asyncio.sleep(0)
    (sent,) = contents(to_values)
    assert (sent.content_type, sent.file_path, sent.count) == ("time-values", None, 1)
    assert json.loads(sent.payload or b"") == [VALUES[0]]
    answer(engine, to_values)
    assert (await asyncio.wait_for(task, 5)).stored == ("values",)

    to_csv = add_north(
        engine,
        "files",
        [{"id": "r2", "source": source, "transformerId": "time-values-to-csv", "options": {"filename": "v.csv"}}],
        ("any",),
    )
    del engine.norths["values"]
    task = asyncio.create_task(
        engine.ingest_values(json.dumps(VALUES).encode(), 2, data_source_id="plant", north_ids=None)
    )
    await asyncio.sleep(0)
    (csv_file,) = contents(to_csv)
    assert (csv_file.content_type, csv_file.filename) == ("any", "v.csv")
    assert (csv_file.payload or b"").startswith(b"Reference,Timestamp,Value\ntemperature,")
    answer(engine, to_csv)
    await asyncio.wait_for(task, 5)
