"""Transformer routes: types, manifests, search, custom CRUD, tests in the sandbox, templates, North rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from config_fakes import (  # noqa: F401
    AUTH,
    Client,
    RecordingRuntime,
    client_fixture,
    north_body,
    runtime_fixture,
    store_fixture,
)

from engine.config import ConfigStore

EXAMPLE = (Path(__file__).parent.parent / "sandbox" / "examples" / "csv-to-time-values.js").read_text()


def custom(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "custom",
        "name": "csv-values",
        "description": "CSV to time-values",
        "inputType": "any",
        "outputType": "time-values",
        "customCode": EXAMPLE,
        "customManifest": {},
        "language": "javascript",
        "timeout": 2000,
    }
    return {**body, **changes}


async def test_types_manifests_templates(client: Client) -> None:
    types = await (await client.get("/api/transformers/types", headers=AUTH)).json()
    assert {"id": "csv-to-time-values", "inputType": "any", "outputType": "time-values"} in types
    manifest = await (await client.get("/api/transformers/manifests/time-values-to-csv", headers=AUTH)).json()
    assert manifest["settings"]["$defs"]["TimeValuesToCsvOptions"]["properties"]["delimiter"]["default"] == "COMMA"
    assert (await client.get("/api/transformers/manifests/nope", headers=AUTH)).status == 404
    template = await (await client.get("/api/transformers/template/time-values", headers=AUTH)).json()
    assert json.loads(template["data"])[0]["pointId"] == "TEMP-01" and "function transform" in template["code"]
    assert (await client.get("/api/transformers/template/xml", headers=AUTH)).status == 400


async def test_custom_crud_search_and_north_rule(client: Client, store: ConfigStore) -> None:
    response = await client.post("/api/transformers", json=custom(), headers=AUTH)
    assert response.status == 201
    created = await response.json()
    assert created["type"] == "custom" and created["customCode"] == EXAMPLE
    path = f"/api/transformers/{created['id']}"
    assert (await client.post("/api/transformers", json=custom(), headers=AUTH)).status == 400  # same name
    bad = await client.post("/api/transformers", json=custom(name="ts", language="typescript", timeout=0), headers=AUTH)
    assert sorted((await bad.json())["errors"]) == ["timeout"]
    typescript = await client.post("/api/transformers", json=custom(name="ts", language="typescript"), headers=AUTH)
    assert "javascript" in (await typescript.json())["errors"]["language"]
    assert (await client.put(path, json=custom(description="changed"), headers=AUTH)).status == 204
    assert (await (await client.get(path, headers=AUTH)).json())["description"] == "changed"
    assert (await (await client.get("/api/transformers/iso", headers=AUTH)).json())["type"] == "standard"

    page = await (await client.get("/api/transformers/search?type=custom", headers=AUTH)).json()
    assert [found["id"] for found in page["content"]] == [created["id"]] and page["totalElements"] == 1
    standard = await (await client.get("/api/transformers/search?inputType=any&page=0", headers=AUTH)).json()
    assert {found["id"] for found in standard["content"]} >= {"csv-to-time-values", "json-to-csv"}
    assert len(await (await client.get("/api/transformers/list", headers=AUTH)).json()) == len(types()) + 1

    north = store.norths.create_north(north_body(store))
    rule = {"transformerId": created["id"], "source": {"type": "oibus-api", "dataSourceId": "csv"}, "options": {}}
    assert (await client.post(f"/api/north/{north.id}/transformers", json=rule, headers=AUTH)).status == 204
    (stored,) = store.norths.north_dto(north.id).transformers
    assert stored.transformer.id == created["id"]
    refused = await client.delete(path, headers=AUTH)
    assert refused.status == 400 and north.id in (await refused.json())["message"]
    assert (await client.delete(f"/api/north/{north.id}/transformers/{stored.id}", headers=AUTH)).status == 204
    assert (await client.delete(path, headers=AUTH)).status == 204
    assert (await client.get(path, headers=AUTH)).status == 404


def types() -> list[str]:
    from engine.routing.transformers import STANDARD

    return list(STANDARD)


async def test_test_routes_run_in_the_sandbox(client: Client) -> None:
    created = await (await client.post("/api/transformers", json=custom(), headers=AUTH)).json()
    test = {"inputData": "reference;date;value\nT1;2026-06-01 14:00:00;1\n", "options": {"timezone": "UTC"}}
    answer = await (await client.post(f"/api/transformers/{created['id']}/test", json=test, headers=AUTH)).json()
    assert json.loads(answer["output"]) == [
        {"pointId": "T1", "timestamp": "2026-06-01T14:00:00.000Z", "data": {"value": 1}}
    ]
    assert answer["metadata"]["contentType"] == "time-values" and answer["metadata"]["numberOfElement"] == 1

    loop = {"command": custom(customCode="function transform() { while (true) {} }", timeout=200), "testRequest": test}
    refused = await client.post("/api/transformers/test", json=loop, headers=AUTH)
    assert refused.status == 400
    assert (await refused.json())["errors"]["customCode"].startswith("TIMEOUT_ERROR")

    values = json.dumps([{"pointId": "a", "timestamp": "2026-01-01T00:00:00.500Z", "data": {"value": 1}}])
    standard = await client.post(
        "/api/transformers/time-values-to-oianalytics/test",
        json={"inputData": values, "options": {"precision": "s"}},
        headers=AUTH,
    )
    assert json.loads((await standard.json())["output"])[0]["timestamp"] == "2026-01-01T00:00:00.000Z"
