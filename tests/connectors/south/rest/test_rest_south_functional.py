"""REST South against an in-process aiohttp API: window parameters, tracked instant, body and file output."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from fakes import RecordingLogger, RecordingSink
from servers.rest_target import RestTarget

from connectors import registry
from connectors.base import ConnectorContext, Item
from connectors.errors import ConnectorError, ConnectorNotReady
from connectors.south.rest import MANIFEST, RestSouth
from connectors.south.rest.manifest import RestItemSettings, RestSettings

START = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
END = datetime(2026, 3, 1, 11, 0, 0, 250_000, tzinfo=UTC)
ANSWER = {"data": [{"ts": "2026-03-01T10:15:00.000Z", "v": 1}, {"ts": "2026-03-01T10:45:00.000Z", "v": 2}]}


@pytest.fixture
async def api() -> AsyncIterator[RestTarget]:
    async with RestTarget(answer=json.dumps(ANSWER), content_type="application/json") as running:
        yield running


def make(tmp_path: Path, api: RestTarget, sink: RecordingSink, **settings: Any) -> RestSouth:
    wire = {"host": api.url, **settings}
    context = ConnectorContext(
        id="s1",
        name="Api",
        logger=RecordingLogger(),
        base_folder=tmp_path / "south-s1",
        data_folder=tmp_path / "south-s1",
    )
    return RestSouth(msgspec.convert(wire, RestSettings), context, sink, cache=None)  # type: ignore[arg-type]


def item(**settings: Any) -> Item[RestItemSettings]:
    wire = {"endpoint": "/api/values", **settings}
    return Item(id="i1", name="values", enabled=True, settings=msgspec.convert(wire, RestItemSettings))


async def query(south: RestSouth, *items: Item[RestItemSettings]) -> datetime | None:
    await south.start()
    try:
        return await south.history_query(list(items), START, END)
    finally:
        await south.stop()


def test_registered_and_validated() -> None:
    assert registry.manifest("south", "rest") is MANIFEST
    assert MANIFEST.modes.history
    with pytest.raises(msgspec.ValidationError, match="jsonPath is required"):
        msgspec.convert({"endpoint": "/x", "trackingInstant": {"trackInstant": True}}, RestItemSettings)
    with pytest.raises(msgspec.ValidationError, match="invalid JSONPath"):
        msgspec.convert(
            {"endpoint": "/x", "trackingInstant": {"trackInstant": True, "jsonPath": "$[?"}}, RestItemSettings
        )
    with pytest.raises(msgspec.ValidationError, match="unsupported token"):
        msgspec.convert(
            {"endpoint": "/x", "queryParams": [{"key": "a", "dateTimeInput": {"type": "string", "format": "QQ"}}]},
            RestItemSettings,
        )


async def test_window_parameters_and_tracked_instant(tmp_path: Path, api: RestTarget) -> None:
    sink = RecordingSink()
    south = make(tmp_path, api, sink, authentication={"type": "bearer", "token": "tk"})
    newest = await query(
        south,
        item(
            queryParams=[
                {"key": "from", "value": "@StartTime"},
                {"key": "to", "value": "@EndTime", "dateTimeInput": {"type": "unix-epoch-ms"}},
                {
                    "key": "day",
                    "value": "@StartTime",
                    "dateTimeInput": {"type": "string", "timezone": "Europe/Paris", "format": "yyyy-MM-dd HH:mm"},
                },
            ],
            headers=[{"key": "X-Since", "value": "@StartTime", "dateTimeInput": {"type": "unix-epoch"}}],
            trackingInstant={"trackInstant": True, "jsonPath": "$.data[*].ts"},
        ),
    )
    [received] = api.requests
    assert received.query == {
        "from": "2026-03-01T10:00:00.000Z",
        "to": str(int(END.timestamp() * 1000)),
        "day": "2026-03-01 11:00",
    }
    assert received.headers["X-Since"] == str(int(START.timestamp()))
    assert received.headers["Authorization"] == "Bearer tk"
    assert newest == datetime(2026, 3, 1, 10, 45, tzinfo=UTC)
    [recorded] = sink.files
    assert recorded.filename.startswith("Api-values-") and recorded.filename.endswith(".json")
    assert json.loads(recorded.data) == ANSWER
    assert list((tmp_path / "south-s1" / "tmp").iterdir()) == []


async def test_post_body_and_file_output(tmp_path: Path, api: RestTarget) -> None:
    api.answer_headers = {"Content-Disposition": 'attachment; filename="report.csv"'}
    api.content_type = "text/csv"
    api.answer = "a;b\n"
    sink = RecordingSink()
    south = make(
        tmp_path, api, sink, authentication={"type": "api-key", "apiKey": "k", "apiValue": "v", "addTo": "query-params"}
    )
    newest = await query(
        south,
        item(method="POST", body={"content": '{"from": "@StartTime"}'}, returnType="file"),
    )
    [received] = api.requests
    assert received.method == "POST" and received.query == {"k": "v"}
    assert json.loads(received.body) == {"from": "2026-03-01T10:00:00.000Z"}
    assert received.headers["Content-Type"] == "application/json"
    assert newest is None
    assert (sink.files[0].filename, sink.files[0].data) == ("report.csv", b"a;b\n")


async def test_refusals_and_unreachable_api(tmp_path: Path, api: RestTarget) -> None:
    api.status = 500
    api.answer = "boom"
    south = make(tmp_path, api, RecordingSink())
    with pytest.raises(ConnectorError, match="answered HTTP 500: boom"):
        await query(south, item())
    await api.stop()
    with pytest.raises(ConnectorNotReady, match="cannot reach"):
        await query(south, item())
    with pytest.raises(ConnectorNotReady, match="cannot reach"):
        await south.test_connection()


async def test_item_test_hands_the_answer_as_content(tmp_path: Path, api: RestTarget) -> None:
    sink = RecordingSink()
    await make(tmp_path, api, sink).test_item(item(), START, END)
    assert json.loads(sink.contents[0]) == ANSWER
    assert sink.files == []
