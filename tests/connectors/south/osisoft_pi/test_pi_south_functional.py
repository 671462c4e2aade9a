"""OSIsoft PI South against the fake OIBus Agent (tests/servers/oibus_agent.py), which follows upstream's contract.

Neither a PI server nor the agent (Windows programs) can run here: what is tested is OIBus's side of the
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
from fakes import RecordingLogger
from servers.oibus_agent import FakeAgent

from connectors.errors import ConnectorConnectionError
from connectors.south.osisoft_pi import PiSouth
from connectors.south.osisoft_pi.manifest import PiItemSettings

BASE = datetime(2026, 1, 1, tzinfo=UTC)
END = BASE + timedelta(hours=1)


@pytest.fixture
async def agent() -> AsyncIterator[FakeAgent]:
    async with FakeAgent(step_ms=2000, now=lambda: END + timedelta(days=1)) as running:
        yield running


def settings(agent: FakeAgent) -> dict[str, Any]:
    return {"agentUrl": agent.url, "retryInterval": 1000}


async def test_point_id_and_point_query_windows_deliver_every_value(agent: FakeAgent, tmp_path: Path) -> None:
    connector, sink, db = build(PiSouth, settings(agent), tmp_path)
    point = item(connector, "p", "sinusoid", {"type": "point-id", "piPoint": "\\\\PISRV\\SINUSOID"})
    query = item(connector, "q", "all sinusoids", {"type": "point-query", "piQuery": "Name:='SINUSOID*'"})
    expected = set(agent.indexes(BASE.isoformat(), END.isoformat()))
    try:
        await connector.start()
        newest = await read_windows(connector, point, BASE, END, 900)
        await read_windows(connector, query, BASE, END, 900)
    finally:
        await connector.stop()
        db.close()
    assert len(agent.reads("pi")) == 8  # 1 h in windows of 900 s, for each item
    assert agent.reads()[0].body == {
        "startTime": "2026-01-01T00:00:00.000Z",
        "endTime": "2026-01-01T00:15:00.000Z",
        "items": [{"name": "sinusoid", "type": "point-id", "piPoint": "\\\\PISRV\\SINUSOID"}],
    }
    assert delivered(sink, "sinusoid") == expected
    # A point query's values carry the PI point's name, as upstream.
    assert delivered(sink, "SINUSOID") == expected and delivered(sink, "SINUSOIDU") == expected
    assert delivered(sink, "CDT158") == set()
    assert newest == END  # upstream PI tracks maxInstantRetrieved itself
    assert agent.calls[0].body is None and agent.calls[0].action == "connect"


async def test_agent_logs_become_warnings(agent: FakeAgent, tmp_path: Path) -> None:
    connector, sink, db = build(PiSouth, settings(agent), tmp_path)
    try:
        await connector.start()
        found = await connector.history_query(
            [item(connector, "q", "none", {"type": "point-query", "piQuery": "Name:='NOPE*'"})], BASE, END
        )
    finally:
        await connector.stop()
        db.close()
    assert found is None and sink.values == []
    logger = connector.context.logger
    assert isinstance(logger, RecordingLogger)
    assert ("warning", "agent log", {"message": "point query Name:='NOPE*' selects no point"}) in logger.records


async def test_an_agent_restart_mid_read_loses_nothing(agent: FakeAgent, tmp_path: Path) -> None:
    connector, sink, db = build(PiSouth, settings(agent), tmp_path)
    point = item(connector, "p", "level", {"type": "point-id", "piPoint": "LEVEL"})
    try:
        await connector.start()
        agent.hold, agent.hold_after = asyncio.Event(), 2
        reading = asyncio.create_task(read_windows(connector, point, BASE, END, 900))
        async with asyncio.timeout(10):
            while len(agent.reads()) < 3:  # noqa: ASYNC110 (the fake offers no event per request)
                await asyncio.sleep(0.01)
        await agent.restart()
        agent.hold = None
        with pytest.raises(ConnectorConnectionError):
            await reading
        assert connector.cache.get_tracked_instant("p") == BASE + timedelta(minutes=30)
        await read_windows(connector, point, BASE, END, 900)
    finally:
        await connector.stop()
        db.close()
    assert delivered(sink, "level") == set(agent.indexes(BASE.isoformat(), END.isoformat()))


def test_item_settings_name_the_missing_field() -> None:
    with pytest.raises(msgspec.ValidationError, match="piPoint: required when type is point-id"):
        msgspec.convert({"type": "point-id"}, PiItemSettings)
    with pytest.raises(msgspec.ValidationError, match="piQuery: required when type is point-query"):
        msgspec.convert({"type": "point-query", "piQuery": ""}, PiItemSettings)
