"""External sources, and the ingestion paths of v2 and 3.0-3.4 senders, with the payloads those senders send."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
import structlog
from aiohttp.test_utils import TestClient, TestServer
from config_fakes import AUTH, Client, IngestingRuntime, store_fixture  # noqa: F401

from engine.api.app import create_app
from engine.api.content_legacy import routes as legacy_routes
from engine.config import ConfigStore
from engine.info import EngineInfo
from engine.runtime import IngestResult

# What a v2 OIConnect and a 3.0-3.4 oibus North send: a bare JSON array, a quality beside the value.
V2_VALUES = (
    b'[{"pointId":"line1.temp","timestamp":"2020-03-01T10:00:00.000Z","data":{"value":"21.5","quality":"192"}},'
    b'{"pointId":"line1.speed","timestamp":"2020-03-01T10:00:01.000Z","data":{"value":3}}]'
)
V3_VALUES = b'[{"pointId":"p1","timestamp":"2023-06-01T00:00:00.000Z","data":{"value":1.5,"quality":"good"}}]'


@pytest.fixture(name="ingesting")
def ingesting_fixture() -> IngestingRuntime:
    return IngestingRuntime()


@pytest.fixture(name="legacy_client")
async def legacy_client_fixture(store: ConfigStore, ingesting: IngestingRuntime) -> AsyncIterator[Client]:
    app = create_app(store, ingesting, EngineInfo(data_directory=store.data_dir), extra_routes=[legacy_routes])
    async with TestClient(TestServer(app)) as client:
        yield client


async def external_source(client: Client, reference: str) -> dict[str, str]:
    response = await client.post("/api/external-sources", json={"reference": reference}, headers=AUTH)
    assert response.status == 201, await response.text()
    created: dict[str, str] = await response.json()
    return created


async def test_external_sources_crud(legacy_client: Client) -> None:
    created = await external_source(legacy_client, "OT-North")
    assert created["reference"] == "OT-North" and created["description"] == ""
    assert created["createdBy"]
    listed = await (await legacy_client.get("/api/external-sources", headers=AUTH)).json()
    assert [entry["reference"] for entry in listed] == ["OT-North"]
    path = f"/api/external-sources/{created['id']}"
    updated = await legacy_client.put(path, json={"reference": "OT:North", "description": "v2"}, headers=AUTH)
    assert updated.status == 204
    fetched = await (await legacy_client.get(path, headers=AUTH)).json()
    assert (fetched["reference"], fetched["description"]) == ("OT:North", "v2")
    clash = await legacy_client.post("/api/external-sources", json={"reference": "OT:North"}, headers=AUTH)
    assert clash.status == 400
    assert (await clash.json())["errors"] == {"reference": "already used by another external source"}
    empty = await legacy_client.post("/api/external-sources", json={"reference": ""}, headers=AUTH)
    assert empty.status == 400 and "reference" in (await empty.json())["errors"]
    assert (await legacy_client.delete(path, headers=AUTH)).status == 204
    assert (await legacy_client.get(path, headers=AUTH)).status == 404
    assert (await legacy_client.delete(path, headers=AUTH)).status == 404
    assert (await legacy_client.get("/api/external-sources")).status == 401


async def test_v3_values_of_a_known_source_reach_the_runtime(
    legacy_client: Client, ingesting: IngestingRuntime
) -> None:
    await external_source(legacy_client, "North OT")
    # 3.4 encodes the name with encodeURI; 3.0-3.3 sent it raw (the client library percent-encodes the space).
    response = await legacy_client.post(
        "/api/add-values?name=North%20OT",
        data=V3_VALUES,
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert response.status == 204, await response.text()
    assert ingesting.received == [("values", (V3_VALUES, 1), {"source": "North OT", "norths": None})]


async def test_v2_values_and_file(legacy_client: Client, ingesting: IngestingRuntime) -> None:
    await external_source(legacy_client, "OIBus-OT:OIConnect")
    response = await legacy_client.post(
        "/engine/addValues?name=OIBus-OT:OIConnect",
        data=V2_VALUES,
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert response.status == 200, await response.text()
    form = aiohttp.FormData()
    form.add_field("file", b"a;b\n1;2\n", filename="export.csv", content_type="text/csv")
    response = await legacy_client.post("/engine/addFile?name=OIBus-OT:OIConnect", data=form, headers=AUTH)
    assert response.status == 200, await response.text()
    assert ingesting.received == [
        ("values", (V2_VALUES, 2), {"source": "OIBus-OT:OIConnect", "norths": None}),
        ("file", (b"a;b\n1;2\n", "export.csv"), {"source": "OIBus-OT:OIConnect", "norths": None}),
    ]


async def test_v3_file(legacy_client: Client, ingesting: IngestingRuntime) -> None:
    await external_source(legacy_client, "files")
    form = aiohttp.FormData()
    form.add_field("file", b"\x00\x01binary", filename="dump.bin")
    response = await legacy_client.post("/api/add-file?name=files", data=form, headers=AUTH)
    assert response.status == 204
    assert ingesting.received == [("file", (b"\x00\x01binary", "dump.bin"), {"source": "files", "norths": None})]


async def test_unknown_name_is_refused_clearly_and_logged_once(
    legacy_client: Client, ingesting: IngestingRuntime
) -> None:
    with structlog.testing.capture_logs() as logs:
        for _ in range(3):
            refused = await legacy_client.post("/api/add-values?name=ghost", data=V3_VALUES, headers=AUTH)
            # 404: a 3.0-3.4 sender retries it, so its data waits until the operator creates the source.
            assert refused.status == 404
            assert "ghost" in (await refused.json())["message"]
        v2 = await legacy_client.post("/engine/addValues?name=ghost:north", data=V2_VALUES, headers=AUTH)
        assert v2.status == 400
        assert "/api/external-sources" in (await v2.json())["message"]
    assert ingesting.received == []
    warnings = [entry for entry in logs if entry["event"] == "external_source_unknown"]
    assert [entry["name"] for entry in warnings] == ["ghost", "ghost:north"]
    # Creating a source (any) earns a still refused name one more line.
    await external_source(legacy_client, "other")
    with structlog.testing.capture_logs() as logs:
        await legacy_client.post("/api/add-values?name=ghost", data=V3_VALUES, headers=AUTH)
    assert [entry["event"] for entry in logs].count("external_source_unknown") == 1


async def test_bad_inputs_name_the_problem(legacy_client: Client, ingesting: IngestingRuntime) -> None:
    await external_source(legacy_client, "s")
    missing = await legacy_client.post("/api/add-values", data=V3_VALUES, headers=AUTH)
    assert missing.status == 400 and "name" in (await missing.json())["message"]
    not_array = await legacy_client.post("/engine/addValues?name=s", data=b'{"a": 1}', headers=AUTH)
    assert not_array.status == 400
    assert (await not_array.json())["errors"] == {"body": "Expected `array`, got `object`"}
    bad_time = b'[{"pointId":"p","timestamp":"x","data":{"value":1}},{"pointId":"p"}]'
    response = await legacy_client.post("/api/add-values?name=s", data=bad_time, headers=AUTH)
    assert response.status == 400
    assert list((await response.json())["errors"]) == ["body[0].timestamp"]
    garbage = await legacy_client.post("/api/add-values?name=s", data=b"[{", headers=AUTH)
    assert garbage.status == 400 and "Invalid JSON" in (await garbage.json())["message"]
    no_file = await legacy_client.post("/api/add-file?name=s", data=b"x", headers=AUTH)
    assert no_file.status == 400 and "file" in (await no_file.json())["errors"]
    assert ingesting.received == []


async def test_durability_answers_per_generation(legacy_client: Client, ingesting: IngestingRuntime) -> None:
    await external_source(legacy_client, "s")
    ingesting.answer = IngestResult(stored=(), refused={"n1": "cache full"})
    v3 = await legacy_client.post("/api/add-values?name=s", data=V3_VALUES, headers=AUTH)
    assert v3.status == 503 and v3.headers["Retry-After"]
    # v2 senders retry on 400 and 500 only.
    v2 = await legacy_client.post("/engine/addValues?name=s", data=V2_VALUES, headers=AUTH)
    assert v2.status == 500 and "cache full" in (await v2.json())["message"]
    ingesting.answer = IngestResult(stored=(), refused={})
    assert (await legacy_client.post("/api/add-values?name=s", data=V3_VALUES, headers=AUTH)).status == 404
    assert (await legacy_client.post("/engine/addValues?name=s", data=V2_VALUES, headers=AUTH)).status == 500


async def test_legacy_paths_need_credentials(legacy_client: Client) -> None:
    await external_source(legacy_client, "s")
    for path in ("/api/add-values?name=s", "/engine/addValues?name=s", "/engine/addFile?name=s"):
        response = await legacy_client.post(path, data=V3_VALUES)
        assert response.status == 401, path
