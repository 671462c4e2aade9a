"""Upstream's own custom transformer examples run unchanged and give the output upstream documents.

The scripts under ``examples/upstream/`` are the JavaScript examples of upstream's transformer guide
(OptimistikSAS/OIBus, ``documentation/docs/guide/engine/transformers.mdx``, "Custom Transformers" →
"Examples" 1, 3, 4 and 5), typed as documented, ES ``export`` syntax included; each test gives the
documented input and expects the documented output. Example 2 is TypeScript, which this OIBus refuses when
a transformer is saved. The same scripts also go through the routing adapter (``engine.sandbox.routing``),
which turns the result into the content a North stores.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import structlog.testing

from engine.ipc import Content
from engine.routing.router import Rule
from engine.sandbox.client import SandboxClient
from engine.sandbox.routing import CustomCode, CustomTransformers

UPSTREAM = Path(__file__).with_name("examples") / "upstream"


def script(name: str) -> str:
    return (UPSTREAM / name).read_text(encoding="utf-8")


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxClient]:
    async with SandboxClient() as client:
        yield client


async def test_example_1_json_array_to_csv(sandbox: SandboxClient) -> None:
    rows = [
        {"ts": "2024-01-15T10:00:00.000Z", "id": "temp1", "val": 23.5},
        {"ts": "2024-01-15T10:01:00.000Z", "id": "temp1", "val": 23.8},
        {"ts": "2024-01-15T10:00:00.000Z", "id": "pressure1", "val": 102.1},
    ]
    result = await sandbox.run(script("json-array-to-csv.js"), json.dumps(rows), filename="rows.json")
    assert (result.output or "").splitlines() == [
        "Timestamp;Tag;Value",
        "2024-01-15T10:00:00.000Z;temp1;23.5",
        "2024-01-15T10:01:00.000Z;temp1;23.8",
        "2024-01-15T10:00:00.000Z;pressure1;102.1",
    ]
    assert (result.filename, result.number_of_element) == ("export_rows.csv", 3)


NESTED = {
    "records": [
        {"header": {"ts": "2024-01-15T10:00:00.000Z"}, "tag": "plant/temp1", "measurements": {"val": 23.5}},
        {"header": {"ts": "2024-01-15T10:01:00.000Z"}, "tag": "plant/temp1", "measurements": {"val": 23.8}},
        {"header": {"ts": "2024-01-15T10:00:00.000Z"}, "tag": "plant/pressure1", "measurements": {"val": 102.1}},
    ]
}
NESTED_OUTPUT = [
    {"pointId": "plant/temp1", "timestamp": "2024-01-15T10:00:00.000Z", "data": {"value": "23.5"}},
    {"pointId": "plant/temp1", "timestamp": "2024-01-15T10:01:00.000Z", "data": {"value": "23.8"}},
    {"pointId": "plant/pressure1", "timestamp": "2024-01-15T10:00:00.000Z", "data": {"value": "102.1"}},
]


async def test_example_3_nested_json_to_time_values_with_jsonpath(sandbox: SandboxClient) -> None:
    result = await sandbox.run(script("nested-json-to-time-values.js"), json.dumps(NESTED))
    assert json.loads(result.output or "") == NESTED_OUTPUT
    assert result.number_of_element == 3
    assert (result.filename or "").startswith("extracted_")


async def test_example_4_epoch_to_iso_with_luxon(sandbox: SandboxClient) -> None:
    rows = [
        {"id": "plant/temp1", "epoch_ms": 1705312800000, "val": 23.5},
        {"id": "plant/pressure1", "epoch_ms": 1705312800000, "val": 102.1},
    ]
    result = await sandbox.run(script("epoch-to-iso-luxon.js"), json.dumps(rows))
    assert json.loads(result.output or "") == [
        {"id": "plant/temp1", "epoch_ms": 1705312800000, "val": 23.5, "timestamp": "2024-01-15T11:00:00.000+01:00"},
        {
            "id": "plant/pressure1",
            "epoch_ms": 1705312800000,
            "val": 102.1,
            "timestamp": "2024-01-15T11:00:00.000+01:00",
        },
    ]


# Example 5's documented input and output, kept beside the script (the engine test posts the same input).
MQTT_MESSAGES: list[dict[str, Any]] = json.loads((UPSTREAM / "mqtt-messages.input.json").read_text())
MQTT_OUTPUT: list[dict[str, Any]] = json.loads((UPSTREAM / "mqtt-messages.output.json").read_text())


async def test_example_5_mqtt_messages_to_time_values(sandbox: SandboxClient) -> None:
    result = await sandbox.run(script("mqtt-messages-to-time-values.js"), json.dumps(MQTT_MESSAGES))
    assert json.loads(result.output or "") == MQTT_OUTPUT
    assert result.number_of_element == 4
    assert (result.filename or "").startswith("mqtt_")


async def test_on_the_routing_path_the_examples_become_what_the_north_stores() -> None:
    codes = {
        "mqtt": CustomCode("mqtt", "any", "time-values", script("mqtt-messages-to-time-values.js"), 2000),
        "nested": CustomCode("nested", "any", "time-values", script("nested-json-to-time-values.js"), 2000),
    }
    runner = CustomTransformers(codes.get)
    try:
        mqtt = Content(
            seq=1,
            source_id="mqtt-south",
            content_type="any-content",
            payload=json.dumps(MQTT_MESSAGES).encode(),
            count=1,
        )
        stored = await runner.apply("mqtt", Rule(options={}), mqtt)
        assert stored is not None and stored.error is None
        assert (stored.content_type, stored.count, stored.filename) == ("time-values", 4, None)
        assert json.loads(stored.payload or b"") == MQTT_OUTPUT

        nested = Content(
            seq=2, source_id="api", content_type="any-content", payload=json.dumps(NESTED).encode(), count=1
        )
        stored = await runner.apply("nested", None, nested)
        assert stored is not None and json.loads(stored.payload or b"") == NESTED_OUTPUT

        # Input it does not read, and an id that names nothing: the input is kept, marked for the error cache.
        values = Content(seq=3, source_id="s", content_type="time-values", payload=b"[]")
        refused = await runner.apply("mqtt", None, values)
        assert refused == Content(
            seq=3,
            source_id="s",
            content_type="time-values",
            payload=b"[]",
            error="custom transformer 'mqtt' reads any, not time-values",
        )
        missing = await runner.apply("gone", None, mqtt)
        assert missing is not None and missing.payload == mqtt.payload
        assert missing.error == "custom transformer 'gone' does not exist"
    finally:
        await runner.close()


async def test_console_lines_of_a_routed_transformer_reach_the_engine_log() -> None:
    code = "function transform(c) { console.warn('odd row', 3); return { data: c }; }"
    runner = CustomTransformers({"c": CustomCode("c", "any", "any", code, 2000)}.get)
    try:
        with structlog.testing.capture_logs() as logs:
            part = Content(seq=1, source_id="s", content_type="any-content", payload=b"x", count=1)
            stored = await runner.apply("c", None, part)
    finally:
        await runner.close()
    assert stored is not None and stored.payload == b"x"
    lines = [entry for entry in logs if entry["event"] == "CUSTOM TRANSFORMER: console"]
    assert lines == [
        {"event": "CUSTOM TRANSFORMER: console", "transformer": "c", "text": "odd row 3", "log_level": "warning"}
    ]


async def test_a_dead_routing_sandbox_is_replaced_and_its_run_kept_for_the_error_cache() -> None:
    upper = "function transform(c) { return { data: c.toUpperCase() }; }"
    runner = CustomTransformers({"u": CustomCode("u", "any", "any", upper, 2000)}.get)
    part = Content(seq=1, source_id="s", content_type="any-content", payload=b"abc", count=1)
    try:
        first = await runner.apply("u", None, part)
        assert first is not None and first.payload == b"ABC"
        pid = runner.sandbox.pid
        assert pid is not None
        victim = psutil.Process(pid)
        victim.kill()
        victim.wait(10)
        lost = await runner.apply("u", None, part)
        assert lost is not None and lost.payload == b"abc" and "SANDBOX_ERROR" in (lost.error or "")
        again = await runner.apply("u", None, part)
        assert again is not None and again.payload == b"ABC" and again.error is None
        assert runner.sandbox.pid not in (None, pid)
    finally:
        await runner.close()
