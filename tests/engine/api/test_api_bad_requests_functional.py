"""Malformed requests a fuzzer (or an attacker) sends answer 4xx naming the problem, never 5xx."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from config_fakes import AUTH, Client, IngestingRuntime, store_fixture  # noqa: F401

from engine.api.app import create_app
from engine.api.content import routes as content_routes
from engine.api.keys import LOGS
from engine.api.routes_logs import routes as log_routes
from engine.config import ConfigStore
from engine.config.items_csv import DELIMITER_SCHEMA, check_delimiter
from engine.config.models import NAME_MAX_LENGTH, TEXT_MAX_LENGTH
from engine.filenames import FILENAME_MAX_BYTES, safe_filename
from engine.info import EngineInfo
from engine.logs import LogStore


@pytest.fixture(name="ingesting")
def ingesting_fixture() -> IngestingRuntime:
    return IngestingRuntime()


@pytest.fixture(name="client")
async def client_fixture(store: ConfigStore, ingesting: IngestingRuntime) -> AsyncIterator[Client]:
    app = create_app(
        store, ingesting, EngineInfo(data_directory=store.data_dir), extra_routes=[content_routes, log_routes]
    )
    app[LOGS] = LogStore(store.data_dir)
    async with TestClient(TestServer(app)) as client:
        yield client


BOUNDARY = "xYzBoundary"
MULTIPART = {**AUTH, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def _part(filename: str, content: bytes = b"a,b\n1,2\n") -> bytes:
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n\r\n'
    return head.encode() + content


async def test_truncated_multipart_is_400_and_nothing_is_routed(client: Client, ingesting: IngestingRuntime) -> None:
    cut_in_the_file = _part("data.csv")  # no closing boundary: the body ends inside the file
    cut_in_the_headers = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="fi'.encode()
    for body in (cut_in_the_file, cut_in_the_headers, b"--" + BOUNDARY.encode()):
        response = await client.post("/api/content/file?dataSourceId=s", data=body, headers=MULTIPART)
        assert response.status == 400, (body, await response.text())
        assert "file" in (await response.json())["errors"]
    assert ingesting.received == []
    # A multipart type without a boundary cannot be read at all.
    headers = {**AUTH, "Content-Type": "multipart/form-data"}
    response = await client.post("/api/content/file?dataSourceId=s", data=b"x", headers=headers)
    assert response.status == 400, await response.text()


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("da%00ta.csv", "da_ta.csv"),
        ("da%00ta%2F..%5Cb.csv", "b.csv"),
        ("tab%09and%7Fdel%0A.csv", "tab_and_del_.csv"),
        ("x" * 5000 + ".csv", "x" * (FILENAME_MAX_BYTES - 4) + ".csv"),
        ('a<b>c:d"e|f?g*h.csv', "a_b_c_d_e_f_g_h.csv"),
        ("CON.csv", "_CON.csv"),
        ("report. ", "report"),
        ("..", "file"),
    ],
)
async def test_file_names_are_sanitized_for_both_platforms(
    client: Client, ingesting: IngestingRuntime, sent: str, kept: str
) -> None:
    # Written by hand: aiohttp's client refuses to send control characters in a header, a hostile client does not.
    body = _part(sent) + f"\r\n--{BOUNDARY}--\r\n".encode()
    response = await client.post("/api/content/file?dataSourceId=s", data=body, headers=MULTIPART)
    assert response.status == 204, await response.text()
    ((kind, (data, filename), _),) = ingesting.received
    assert (kind, data, filename) == ("file", b"a,b\n1,2\n", kept)


async def test_a_raw_nul_byte_in_the_part_header_is_400(client: Client, ingesting: IngestingRuntime) -> None:
    body = _part("da\x00ta.csv") + f"\r\n--{BOUNDARY}--\r\n".encode()
    response = await client.post("/api/content/file?dataSourceId=s", data=body, headers=MULTIPART)
    assert response.status == 400, await response.text()
    assert "file" in (await response.json())["errors"]
    assert ingesting.received == []


def test_safe_filename_cuts_utf8_on_a_character_boundary() -> None:
    name = safe_filename("é" * 300 + ".txt")
    assert name.endswith(".txt") and len(name.encode()) <= FILENAME_MAX_BYTES
    assert safe_filename("C:\\Users\\x\\data.csv") == "data.csv"
    assert safe_filename("") == "file"


@pytest.mark.parametrize("page", ["99999999999999999999999", "2147483648", "-1", "1e3", "٣", "9" * 5000])
async def test_huge_or_odd_page_numbers_are_400(client: Client, page: str) -> None:
    response = await client.get("/api/logs", params={"page": page}, headers=AUTH)
    assert response.status == 400, await response.text()
    assert "page" in (await response.json())["message"]


@pytest.mark.parametrize("page", ["9" * 5000, "2147483648", "x"])
async def test_transformer_search_pages_are_checked_like_the_others(client: Client, page: str) -> None:
    response = await client.get("/api/transformers/search", params={"page": page}, headers=AUTH)
    assert response.status == 400, await response.text()
    assert "page" in (await response.json())["message"]


def test_every_delimiter_the_document_states_is_accepted() -> None:
    pattern = re.compile(str(DELIMITER_SCHEMA["pattern"]))
    stated = [chr(code) for code in range(0x250) if pattern.search(chr(code))]
    assert "," in stated and ";" in stated and "a" not in stated and '"' not in stated
    assert [check_delimiter(char) for char in stated] == stated


async def test_integral_floats_fill_integer_fields_and_unknown_big_numbers_are_ignored(client: Client) -> None:
    # JSON has one number type: 3.0 is the integer 3 to a JSON Schema (and to JavaScript).
    response = await client.post("/api/scan-modes/verify", json={"cron": "0 * * * * *", "count": 3.0}, headers=AUTH)
    assert response.status == 200, await response.text()
    assert len((await response.json())["nextExecutions"]) == 3
    response = await client.post("/api/scan-modes/verify", json={"cron": "0 * * * * *", "count": 2.5}, headers=AUTH)
    assert response.status == 400 and "count" in (await response.json())["errors"]
    # An unknown field is dropped, whatever it holds; a kept integer must still fit in 64 bits.
    body = {"name": "big", "cron": "0 * * * * *", "extra": {"n": 2**70}}
    response = await client.post("/api/scan-modes", json=body, headers=AUTH)
    assert response.status == 201, await response.text()


async def test_a_megabyte_connector_name_is_refused_naming_the_field(client: Client) -> None:
    body = {"name": "n" * 1_000_000, "type": "folder-scanner", "description": "", "enabled": False, "settings": {}}
    response = await client.post("/api/south", json=body, headers=AUTH)
    assert response.status == 400, (await response.text())[:500]
    answer = await response.json()
    assert "name" in answer["errors"]
    assert len(await response.read()) < 10_000, "the refusal must not echo the megabyte back"


async def test_undeclared_content_types_are_4xx(client: Client) -> None:
    for path in ("/api/content/file?dataSourceId=s", "/api/content/content?dataSourceId=s", "/api/scan-modes"):
        for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/octet-stream", "x/y"):
            headers = {**AUTH, "Content-Type": content_type}
            response = await client.post(path, data=b"\x00\xff garbage", headers=headers)
            assert 400 <= response.status < 500, (path, content_type, await response.text())


async def test_names_and_descriptions_have_length_limits(client: Client) -> None:
    cron = "0 * * * * *"
    too_long_name = {"name": "n" * (NAME_MAX_LENGTH + 1), "description": "", "cron": cron}
    response = await client.post("/api/scan-modes", json=too_long_name, headers=AUTH)
    assert response.status == 400, await response.text()
    assert "name" in (await response.json())["errors"]
    too_long_text = {"name": "ok", "description": "d" * (TEXT_MAX_LENGTH + 1), "cron": cron}
    response = await client.post("/api/scan-modes", json=too_long_text, headers=AUTH)
    assert "description" in (await response.json())["errors"]
    at_the_limit = {"name": "n" * NAME_MAX_LENGTH, "description": "d" * TEXT_MAX_LENGTH, "cron": cron}
    response = await client.post("/api/scan-modes", json=at_the_limit, headers=AUTH)
    assert response.status in (200, 201), await response.text()
