"""The ingestion endpoints: validation, answers, and that the client's bytes reach the runtime untouched."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from config_fakes import AUTH, Client, IngestingRuntime, store_fixture  # noqa: F401

from engine.api.app import create_app
from engine.api.content import routes as content_routes
from engine.config import ConfigStore
from engine.info import EngineInfo
from engine.runtime import IngestResult


@pytest.fixture(name="ingesting")
def ingesting_fixture() -> IngestingRuntime:
    return IngestingRuntime()


@pytest.fixture(name="content_client")
async def content_client_fixture(store: ConfigStore, ingesting: IngestingRuntime) -> AsyncIterator[Client]:
    app = create_app(store, ingesting, EngineInfo(data_directory=store.data_dir), extra_routes=[content_routes])
    async with TestClient(TestServer(app)) as client:
        yield client


VALUES = b'[{"pointId":"p1","timestamp":"2026-01-01T00:00:00.000Z","data":{"value":1.5,"quality":"good"}}]'


async def test_time_values_bytes_reach_the_runtime_untouched(
    content_client: Client, ingesting: IngestingRuntime
) -> None:
    body = b'{"type": "time-values", "content": ' + VALUES + b"}"
    response = await content_client.post(
        "/api/content/content?dataSourceId=line1&northId=a,b&northId=c", data=body, headers=AUTH
    )
    assert response.status == 204, await response.text()
    assert ingesting.received == [("values", (VALUES, 1), {"source": "line1", "norths": ["a", "b", "c"]})]


async def test_other_json_is_any_content(content_client: Client, ingesting: IngestingRuntime) -> None:
    for body in (b'{"temperature": 21}', b"[1, 2]", b'{"type": "setpoint", "content": []}'):
        response = await content_client.post("/api/content/content?dataSourceId=s", data=body, headers=AUTH)
        assert response.status == 204
    assert [entry[1] for entry in ingesting.received] == [
        b'{"temperature": 21}',
        b"[1, 2]",
        b'{"type": "setpoint", "content": []}',
    ]


@pytest.mark.parametrize(
    ("content", "field"),
    [
        (b'[{"pointId":"p","timestamp":"yesterday","data":{"value":1}}]', "content[0].timestamp"),
        (b'[{"pointId":"p","timestamp":"2026-01-01T00:00:00","data":{"value":1}}]', "content[0].timestamp"),
        (b'[{"pointId":"p","timestamp":"2026-01-01T00:00:00Z","data":{}}]', "content[0].data"),
        (b'[{"pointId":"","timestamp":"2026-01-01T00:00:00Z","data":{"value":1}}]', "content[0].pointId"),
        (b'[{"pointId":"p","timestamp":"2026-01-01T00:00:00Z","data":{"value":1}}, 3]', "content[1]"),
        (b'{"a": 1}', "content"),
    ],
)
async def test_bad_time_values_name_the_field(
    content_client: Client, ingesting: IngestingRuntime, content: bytes, field: str
) -> None:
    body = b'{"type": "time-values", "content": ' + content + b"}"
    response = await content_client.post("/api/content/content?dataSourceId=s", data=body, headers=AUTH)
    assert response.status == 400
    errors = (await response.json())["errors"]
    assert list(errors) == [field]
    assert ingesting.received == []


async def test_missing_source_bad_json_and_no_credentials(content_client: Client, ingesting: IngestingRuntime) -> None:
    response = await content_client.post("/api/content/content", data=b"{}", headers=AUTH)
    assert response.status == 400
    assert "dataSourceId" in (await response.json())["errors"]
    response = await content_client.post("/api/content/content?dataSourceId=s", data=b"{nope", headers=AUTH)
    assert response.status == 400
    assert "Invalid JSON" in (await response.json())["message"]
    response = await content_client.post("/api/content/content?dataSourceId=s", data=b"{}")
    assert response.status == 401
    assert ingesting.received == []


async def test_refusal_is_503_and_no_target_is_404(content_client: Client, ingesting: IngestingRuntime) -> None:
    body = b'{"type": "time-values", "content": ' + VALUES + b"}"
    ingesting.answer = IngestResult(stored=("n1",), refused={"n2": "cache full: maxSize reached"})
    response = await content_client.post("/api/content/content?dataSourceId=s", data=body, headers=AUTH)
    assert response.status == 503
    assert "cache full" in (await response.json())["message"]
    ingesting.answer = IngestResult(stored=(), refused={})
    response = await content_client.post("/api/content/content?dataSourceId=s", data=body, headers=AUTH)
    assert response.status == 404
    ingesting.answer = IngestResult(stored=(), refused={}, ignored=True)
    response = await content_client.post("/api/content/content?dataSourceId=s", data=body, headers=AUTH)
    assert response.status == 204


async def test_file_upload_is_routed_then_removed(
    content_client: Client, ingesting: IngestingRuntime, store: ConfigStore
) -> None:
    form = aiohttp.FormData()
    form.add_field("file", b"a,b\n1,2\n", filename="../../etc/data.csv")
    response = await content_client.post("/api/content/file?dataSourceId=s", data=form, headers=AUTH)
    assert response.status == 204, await response.text()
    ((kind, (data, filename), _),) = ingesting.received
    assert (kind, data, filename) == ("file", b"a,b\n1,2\n", "data.csv")
    assert not any((store.data_dir / "cache" / "api-tmp").glob("*")), "scratch upload removed"
    form = aiohttp.FormData()
    form.add_field("other", "x")
    response = await content_client.post("/api/content/file?dataSourceId=s", data=form, headers=AUTH)
    assert response.status == 400
    assert "file" in (await response.json())["errors"]
