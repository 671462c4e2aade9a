"""OPC UA North against a real in-process asyncua server: values written are read back from the server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
import pytest_asyncio
from engine_process import closed_port
from fakes import RecordingLogger, reporting_context
from servers.opcua import OpcuaTestServer

from connectors.errors import ConnectorNotReady, SendError
from connectors.north.opcua import MANIFEST, OpcuaNorth
from connectors.north.opcua.manifest import OpcuaNorthSettings

pytestmark = [pytest.mark.timeout(60), pytest.mark.asyncio(loop_scope="module")]


@pytest.fixture(autouse=True)
def data_folder(tmp_path: Path) -> Path:
    return tmp_path


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def shared_server() -> AsyncIterator[OpcuaTestServer]:
    policies: list[str | tuple[str, str]] = ["none", ("basic256-sha256", "sign-and-encrypt")]
    async with OpcuaTestServer(policies=policies, users={"operator": "s3cret"}) as started:
        yield started


@pytest_asyncio.fixture(loop_scope="module")
async def server(shared_server: OpcuaTestServer) -> OpcuaTestServer:
    await shared_server.reset()
    return shared_server


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.logger = RecordingLogger()
        self.lost: list[str] = []
        self.base = tmp_path / "cache" / "north-n1"
        self.data_folder = tmp_path

    def north(self, url: str, **settings: Any) -> OpcuaNorth:
        context = reporting_context(
            "n1", "Writer", self.logger, data_folder=self.data_folder, base_folder=self.base, lost=self.lost
        )
        return OpcuaNorth(msgspec.convert({"url": url, **settings}, OpcuaNorthSettings), context)


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def content(*writes: dict[str, Any]) -> bytes:
    return msgspec.json.encode(list(writes))


# (node, value sent, value read back) with the node's own type (no dataType given).
WRITES: list[tuple[str, Any, Any]] = [
    ("Boolean", False, False),
    ("Boolean", "1", True),
    ("SByte", -5, -5),
    ("Byte", "17", 17),
    ("Int16", -1234, -1234),
    ("UInt16", 65535, 65535),
    ("Int32", "-70000", -70000),
    ("UInt32", 70000, 70000),
    ("Int64", -(2**62), -(2**62)),
    ("UInt64", "18446744073709551615", 18446744073709551615),
    ("Float", 2.5, 2.5),
    ("Double", "12.75", 12.75),
    ("String", 42, "42"),
    ("DateTime", "2024-05-06T07:08:09.123Z", datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)),
    ("ByteString", "cafe", b"\xca\xfe"),
    ("Guid", "87654321-4321-8765-4321-876543218765", uuid.UUID("87654321-4321-8765-4321-876543218765")),
]


async def test_every_type_is_written_and_read_back(server: OpcuaTestServer, harness: Harness) -> None:
    north = harness.north(server.url)
    await north.start()
    try:
        for node, sent, expected in WRITES:
            await north.handle_content("opcua", content({"nodeId": f"ns=2;s={node}", "value": sent}))
            assert await server.read(f"ns=2;s={node}") == expected, node
    finally:
        await north.stop()
    assert harness.logger.events("error") == []


async def test_one_batch_with_explicit_data_types(server: OpcuaTestServer, harness: Harness) -> None:
    north = harness.north(server.url)
    await north.start()
    try:
        await north.handle_content(
            "opcua",
            content(
                {"nodeId": "ns=2;s=Double", "value": 7, "dataType": "Double"},
                {"nodeId": "ns=2;s=Int32", "value": "8", "dataType": "int32"},
                {"nodeId": "ns=2;s=Counter", "value": 9.5},
            ),
        )
    finally:
        await north.stop()
    assert [await server.read(f"ns=2;s={n}") for n in ("Double", "Int32", "Counter")] == [7.0, 8, 9.5]


async def test_elements_that_cannot_be_written_are_logged_and_skipped(
    server: OpcuaTestServer, harness: Harness
) -> None:
    north = harness.north(server.url)
    await north.start()
    try:
        await north.handle_content(
            "opcua",
            content(
                {"nodeId": "not a node id", "value": 1},
                {"nodeId": "ns=2;s=Missing", "value": 1},
                {"nodeId": "ns=2;s=Byte", "value": 300},
                {"nodeId": "ns=2;s=Double", "value": "abc"},
                {"nodeId": "ns=2;s=Double", "value": 1, "dataType": "Quaternion"},
                {"nodeId": "ns=2;s=Int16", "value": 3},
            ),
        )
    finally:
        await north.stop()
    assert await server.read("ns=2;s=Int16") == 3
    assert await server.read("ns=2;s=Byte") == 200
    errors = [fields for level, event, fields in harness.logger.records if event == "values not written"]
    assert len(errors) == 1
    assert errors[0]["count"] == 5 and errors[0]["total"] == 6
    reasons = errors[0]["reasons"]
    for expected in ("not an OPC UA node id", "ns=2;s=Missing", "out of the Byte range", "'abc' is not a number"):
        assert expected in reasons


async def test_bad_content_is_a_send_error(server: OpcuaTestServer, harness: Harness) -> None:
    north = harness.north(server.url)
    await north.start()
    try:
        with pytest.raises(SendError, match="not \\[\\{nodeId, value, dataType\\?\\}\\]") as caught:
            await north.handle_content("opcua", b'{"nodeId": 1}')
        assert not caught.value.retry_forever
        with pytest.raises(SendError, match="not 'mqtt'"):
            await north.handle_content("mqtt", b"[]")
    finally:
        await north.stop()


async def test_secured_session_with_a_user(server: OpcuaTestServer, harness: Harness) -> None:
    north = harness.north(
        server.url,
        securityMode="sign-and-encrypt",
        securityPolicy="basic256-sha256",
        authentication={"type": "basic", "username": "operator", "password": "s3cret"},
    )
    await north.test_connection()
    await north.start()
    try:
        await north.handle_content("opcua", content({"nodeId": "ns=2;s=Double", "value": -1.5}))
    finally:
        await north.stop()
    assert await server.read("ns=2;s=Double") == -1.5


async def test_connection_test_names_the_problem(harness: Harness) -> None:
    with closed_port() as port, pytest.raises(ConnectorNotReady, match="refused the connection"):
        await harness.north(f"opc.tcp://127.0.0.1:{port}/").test_connection()


async def test_a_lost_session_is_retried_forever_and_reported(harness: Harness) -> None:
    async with OpcuaTestServer() as server:
        north = harness.north(server.url)
        await north.start()
        await north.handle_content("opcua", content({"nodeId": "ns=2;s=Double", "value": 1}))
        await server.stop()
        with pytest.raises(SendError) as caught:
            await north.handle_content("opcua", content({"nodeId": "ns=2;s=Double", "value": 2}))
        await north.stop()
    assert caught.value.retry_forever
    assert harness.lost, "the runner hears of the loss"


async def test_manifest_types() -> None:
    assert MANIFEST.to_dto()["types"] == ["opcua"]
