"""OPC South against the fake OIBus Agent (tests/servers/oibus_agent.py), which follows upstream's contract.

No OPC HDA/DA server nor the agent (Windows programs) can run here: what is tested is OIBus's side of the
agent's HTTP contract, with generated history whose every value the tests can name.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from agent_support import build, delivered, item, read_windows
from engine_process import closed_port
from servers.oibus_agent import FakeAgent

from connectors.errors import ConnectorConnectionError, ConnectorError, ConnectorNotReady
from connectors.south.opc import OpcSouth
from connectors.south.opc.manifest import OpcItemSettings, OpcSettings

BASE = datetime(2026, 1, 1, tzinfo=UTC)
END = BASE + timedelta(hours=2)


@pytest.fixture
async def agent() -> AsyncIterator[FakeAgent]:
    async with FakeAgent(step_ms=1000, now=lambda: END + timedelta(days=1)) as running:
        yield running


def settings(agent_url: str, **extra: Any) -> dict[str, Any]:
    return {"agentUrl": agent_url, "retryInterval": 500, "host": "plant-pc", **extra}


async def test_history_windows_deliver_every_generated_value_and_track_1_ms_past_it(
    agent: FakeAgent, tmp_path: Path
) -> None:
    connector, sink, db = build(OpcSouth, settings(agent.url), tmp_path)
    random = item(connector, "i1", "random", {"nodeId": "ns=3;s=Random"})
    try:
        await connector.start()
        newest = await read_windows(connector, random, BASE, END, 600)
        assert len(agent.reads()) == 12  # 2 h in windows of maxReadInterval 600 s
        assert delivered(sink, "random") == set(agent.indexes(BASE.isoformat(), END.isoformat()))
        assert newest == END + timedelta(milliseconds=1)
        assert connector.cache.get_tracked_instant("i1") == newest
        first = agent.reads()[0].body
        assert first == {
            "host": "plant-pc",
            "serverName": "Matrikon.OPC.Simulation",
            "mode": "hda",
            "maxReadValues": 3600,
            "intervalReadDelay": 200,
            "aggregate": "raw",
            "resampling": "none",
            "startTime": "2026-01-01T00:00:00.000Z",
            "endTime": "2026-01-01T00:10:00.000Z",
            "items": [{"name": "random", "nodeId": "ns=3;s=Random"}],
        }
        assert set(sink.value_items[0] or []) == {"i1"}
        # Caught up: the next run starts 1 ms after the last value and finds nothing new.
        assert await read_windows(connector, random, BASE, END, 600) is None
    finally:
        await connector.stop()
        db.close()
    assert [c.action for c in agent.calls if c.action != "read"] == ["connect", "disconnect"]
    assert agent.sessions == {}


async def test_items_are_read_per_aggregate_and_resampling(agent: FakeAgent, tmp_path: Path) -> None:
    connector, sink, db = build(OpcSouth, settings(agent.url), tmp_path)
    items = [
        item(connector, "a", "raw-a", {"nodeId": "A"}),
        item(connector, "b", "raw-b", {"nodeId": "B"}),
        item(connector, "c", "avg-c", {"nodeId": "C", "aggregate": "average", "resampling": "10s"}),
    ]
    try:
        await connector.start()
        newest = await connector.history_query(items, BASE, BASE + timedelta(minutes=1))
    finally:
        await connector.stop()
        db.close()
    bodies = [call.body for call in agent.reads()]
    assert [(b["aggregate"], b["resampling"], [i["nodeId"] for i in b["items"]]) for b in bodies] == [
        ("raw", "none", ["A", "B"]),
        ("average", "10s", ["C"]),
    ]
    assert sink.value_items == [["a", "b"], ["c"]]
    assert {point: len(delivered(sink, point)) for point in ("raw-a", "raw-b", "avg-c")} == dict.fromkeys(
        ("raw-a", "raw-b", "avg-c"), 61
    )
    assert newest == BASE + timedelta(minutes=1, milliseconds=1)


async def test_da_mode_reads_the_current_value_of_each_item(agent: FakeAgent, tmp_path: Path) -> None:
    connector, sink, db = build(OpcSouth, settings(agent.url, mode="da"), tmp_path)
    try:
        await connector.start()
        await connector.history_query([item(connector, "t", "tank", {"nodeId": "Tank"})], BASE, END)
    finally:
        await connector.stop()
        db.close()
    assert agent.calls[0].body == {"host": "plant-pc", "serverName": "Matrikon.OPC.Simulation", "mode": "da"}
    assert [(v["pointId"], v["timestamp"]) for v in sink.values] == [("tank", "2026-01-01T02:00:00.000Z")]


async def test_an_agent_restarted_mid_read_loses_nothing_and_the_session_is_opened_again(
    agent: FakeAgent, tmp_path: Path
) -> None:
    connector, sink, db = build(OpcSouth, settings(agent.url), tmp_path)
    counter = item(connector, "i1", "counter", {"nodeId": "Counter"})
    try:
        await connector.start()
        agent.hold, agent.hold_after = asyncio.Event(), 5
        reading = asyncio.create_task(read_windows(connector, counter, BASE, END, 600))
        await until_reads(agent, 6)
        await agent.restart()  # cuts the 6th read; the agent forgets the session
        agent.hold = None
        with pytest.raises(ConnectorConnectionError, match="cannot reach the OIBus Agent"):
            await reading
        tracked = connector.cache.get_tracked_instant("i1")
        assert tracked == BASE + timedelta(minutes=50, milliseconds=1)  # the 5 delivered windows, not the 6th
        assert max(delivered(sink, "counter")) == int((BASE + timedelta(minutes=50)).timestamp())
        # The same connector (no restart of OIBus) reads on: it sends connect again, then the remaining windows.
        await read_windows(connector, counter, BASE, END, 600)
    finally:
        await connector.stop()
        db.close()
    assert delivered(sink, "counter") == set(agent.indexes(BASE.isoformat(), END.isoformat()))
    assert [c.action for c in agent.calls].count("connect") == 2


async def until_reads(agent: FakeAgent, count: int) -> None:
    async with asyncio.timeout(10):
        while len(agent.reads()) < count:  # noqa: ASYNC110 (the fake offers no event per request)
            await asyncio.sleep(0.01)


async def test_an_unreachable_agent_is_not_ready_and_asks_for_the_retry_interval(tmp_path: Path) -> None:
    with closed_port() as port:
        connector, _, db = build(OpcSouth, settings(f"http://127.0.0.1:{port}"), tmp_path)
        try:
            with pytest.raises(
                ConnectorNotReady, match=rf"cannot reach the OIBus Agent at http://127\.0\.0\.1:{port}"
            ) as err:
                await connector.start()
            assert err.value.retry_after_s == 0.5
            assert connector._client is None  # the runner's next attempt is another instance: nothing left open
        finally:
            await connector.stop()
            db.close()


async def test_an_unknown_server_is_refused_with_the_agents_message(agent: FakeAgent, tmp_path: Path) -> None:
    connector, _, db = build(OpcSouth, settings(agent.url, serverName="Nope.Server"), tmp_path)
    try:
        with pytest.raises(ConnectorNotReady, match=r"HTTP 400: OPC server Nope\.Server not found on plant-pc"):
            await connector.start()
        with pytest.raises(ConnectorNotReady, match=r"OPC server Nope\.Server not found"):
            await connector.test_connection()
    finally:
        await connector.stop()
        db.close()


async def test_a_missing_item_fails_the_read_with_the_agents_message(agent: FakeAgent, tmp_path: Path) -> None:
    connector, sink, db = build(OpcSouth, settings(agent.url), tmp_path)
    try:
        await connector.start()
        with pytest.raises(ConnectorConnectionError, match=r"HTTP 400: item missing\.tag does not exist"):
            await connector.history_query([item(connector, "m", "m", {"nodeId": "missing.tag"})], BASE, END)
    finally:
        await connector.stop()
        db.close()
    assert sink.values == []


async def test_connection_and_item_tests_use_their_own_session(agent: FakeAgent, tmp_path: Path) -> None:
    connector, sink, db = build(OpcSouth, settings(agent.url), tmp_path)
    try:
        await connector.test_connection()
        await connector.test_item(item(connector, "t", "tested", {"nodeId": "T"}), BASE, BASE + timedelta(seconds=9))
    finally:
        db.close()
    assert {(c.connector_id, c.action) for c in agent.calls} == {
        ("agent-south-test", "connect"),
        ("agent-south-test", "status"),
        ("agent-south-test", "read"),
        ("agent-south-test", "disconnect"),
    }
    assert len(delivered(sink, "tested")) == 10 and agent.sessions == {}


def test_settings_errors_name_the_field() -> None:
    with pytest.raises(msgspec.ValidationError, match="agentUrl: must start with http:// or https://"):
        msgspec.convert({"agentUrl": "plant-pc:2224"}, OpcSettings)
    with pytest.raises(msgspec.ValidationError, match=r"Expected `int` >= 100 - at `\$.retryInterval`"):
        msgspec.convert({"agentUrl": "http://a", "retryInterval": 10}, OpcSettings)
    with pytest.raises(msgspec.ValidationError, match=r"at `\$.aggregate`"):
        msgspec.convert({"nodeId": "x", "aggregate": "median"}, OpcItemSettings)
    with pytest.raises(msgspec.ValidationError, match=r"Object missing required field `nodeId`"):
        msgspec.convert({}, OpcItemSettings)


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (b"<html>busy</html>", "read answer is not as expected: JSON is malformed"),
        (b'{"recordCount": "two"}', r"Expected `int`, got `str` - at `\$.recordCount`"),
        (b'{"content": [{"pointId": "x", "data": {}}]}', r"content\[0\]\.timestamp is missing"),
        (b'{"content": [{"pointId": "x", "timestamp": "t", "data": {}}]}', r"content\[0\]\.timestamp 't' is not"),
        (
            b'{"content": [{"pointId": "x", "timestamp": "2026-01-01T00:00:00Z", "data": {}}], '
            b'"maxInstantRetrieved": "soon"}',
            "'soon' is not an ISO 8601 instant",
        ),
    ],
)
async def test_a_malformed_answer_is_an_error_naming_the_problem_and_nothing_is_handed_over(
    agent: FakeAgent, tmp_path: Path, answer: bytes, problem: str
) -> None:
    connector, sink, db = build(OpcSouth, settings(agent.url), tmp_path)
    agent.read_answer = answer
    the_item = item(connector, "i1", "flow", {"nodeId": "Flow"})
    try:
        await connector.start()
        with pytest.raises(ConnectorError, match=problem):
            await read_windows(connector, the_item, BASE, END, 3600)
        assert sink.values == [] and connector.cache.get_tracked_instant("i1") is None
    finally:
        await connector.stop()
        db.close()


async def test_credentials_in_the_agent_url_never_reach_a_message(tmp_path: Path) -> None:
    with closed_port() as port:
        url = f"http://operator:pa55word@127.0.0.1:{port}"
        connector, _, db = build(OpcSouth, settings(url), tmp_path)
        try:
            with pytest.raises(ConnectorNotReady) as err:
                await connector.start()
        finally:
            await connector.stop()
            db.close()
    assert f"http://127.0.0.1:{port}" in str(err.value)
    assert "pa55word" not in str(err.value) and "operator" not in str(err.value)
