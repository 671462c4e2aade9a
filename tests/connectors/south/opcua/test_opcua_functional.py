"""OPC UA South against a real in-process asyncua server on loopback (tests/servers/opcua.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
import pytest_asyncio
from asyncua import ua
from cryptography import x509
from engine_process import closed_port
from fakes import RecordingLogger, RecordingSink, reporting_context
from servers.opcua import HISTORY_NODE, SCALARS, OpcuaTestServer

from connectors.base import Item
from connectors.common.opcua import CERT_FILE, PRIVATE_KEY_FILE, self_signed_certificate
from connectors.errors import ConnectorError, ConnectorFatal, ConnectorNotReady
from connectors.south.opcua import OpcuaSouth
from connectors.south.opcua.manifest import OpcuaItemSettings, OpcuaSettings
from engine.cache.south import SouthCacheDB

# One server for the module (an asyncua server takes seconds to build its address space), reset per test.
pytestmark = [pytest.mark.timeout(60), pytest.mark.asyncio(loop_scope="module")]

EXPECTED_TEXT = {
    "Boolean": "1",
    "SByte": "-12",
    "Byte": "200",
    "Int16": "-30000",
    "UInt16": "60000",
    "Int32": "-2000000000",
    "UInt32": "4000000000",
    "Int64": "-9000000000000000000",
    "UInt64": "18000000000000000000",
    "Float": "1.5",
    "Double": "3.25",
    "String": "héllo",
    "DateTime": "2024-03-01T12:30:15.250Z",
    "ByteString": "01ab",
    "Guid": "12345678-1234-5678-1234-567812345678",
    "LocalizedText": "bonjour",
    "QualifiedName": "2:Name",
    "NodeId": "ns=2;s=Target",
    "StatusCode": "BadNoData",
}
GOOD = '{"value":0}'
USER_CERT = self_signed_certificate("operator", "urn:oibus:user", "localhost")


@pytest.fixture(autouse=True)
def data_folder(tmp_path: Path) -> Path:
    """The data folder the context names: the OIBus certificate goes to its certs/."""
    return tmp_path


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def shared_server() -> AsyncIterator[OpcuaTestServer]:
    async with OpcuaTestServer(page_size=4) as started:
        yield started


@pytest_asyncio.fixture(loop_scope="module")
async def server(shared_server: OpcuaTestServer) -> OpcuaTestServer:
    await shared_server.reset()
    return shared_server


POLICIES = ["basic128-rsa15", "basic256", "basic256-sha256", "aes128-sha256-rsa-oaep", "aes256-sha256-rsa-pss"]
MODES = ["sign", "sign-and-encrypt"]


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def secure_server() -> AsyncIterator[OpcuaTestServer]:
    """Every policy asyncua implements, in both modes, and no security; a user name or a user certificate."""
    policies: list[str | tuple[str, str]] = ["none", *((policy, mode) for policy in POLICIES for mode in MODES)]
    async with OpcuaTestServer(
        policies=policies, users={"operator": "s3cret"}, user_certificates=[USER_CERT[0]], anonymous=False
    ) as started:
        yield started


OPERATOR = {"type": "basic", "username": "operator", "password": "s3cret"}


@pytest.fixture
def cache_db(tmp_path: Path) -> Iterator[SouthCacheDB]:
    db = SouthCacheDB(tmp_path / "cache" / "cache.db")
    yield db
    db.close()


class Harness:
    def __init__(self, tmp_path: Path, cache_db: SouthCacheDB) -> None:
        self.sink = RecordingSink()
        self.logger = RecordingLogger()
        self.lost: list[str] = []
        self.base = tmp_path / "cache" / "south-s1"
        self.data_folder = tmp_path
        self.cache = cache_db.for_south("s1")

    def south(self, url: str, **settings: Any) -> OpcuaSouth:
        context = reporting_context(
            "s1", "Plant", self.logger, data_folder=self.data_folder, base_folder=self.base, lost=self.lost
        )
        wire = {"url": url, "readTimeout": 5000, **settings}
        return OpcuaSouth(msgspec.convert(wire, OpcuaSettings), context, self.sink, self.cache)


@pytest.fixture
def harness(tmp_path: Path, cache_db: SouthCacheDB) -> Harness:
    return Harness(tmp_path, cache_db)


def item(name: str, node_id: str, **settings: Any) -> Item[OpcuaItemSettings]:
    wire = {"nodeId": node_id, "mode": "da", **settings}
    return Item(id=f"id-{name}", name=name, enabled=True, settings=msgspec.convert(wire, OpcuaItemSettings))


def by_point(values: list[Any]) -> dict[str, Any]:
    return {value["pointId"]: value for value in values}


async def test_one_read_maps_every_data_type(server: OpcuaTestServer, harness: Harness) -> None:
    south = harness.south(server.url)
    items = [item(name, f"ns=2;s={name}") for name in SCALARS]
    items.append(item("Array", "ns=2;s=Array"))
    await south.start()
    try:
        await south.last_point(items)
    finally:
        await south.stop()
    assert len(harness.sink.value_items) == 1, "every DA item of a scan in one batch"
    assert harness.sink.value_items[0] == [i.id for i in items]
    values = by_point(harness.sink.values)
    assert {name: value["data"]["value"] for name, value in values.items() if name != "Array"} == EXPECTED_TEXT
    assert values["Array"]["data"]["value"] == "1,2,3"
    assert all(value["data"]["quality"] == GOOD for value in values.values())
    assert set(SCALARS) == set(EXPECTED_TEXT), "the test covers every type the server serves"


async def test_a_float_and_a_double_print_as_upstream(server: OpcuaTestServer, harness: Harness) -> None:
    await server.write("ns=2;s=Double", 42.0, ua.VariantType.Double)
    await server.write("ns=2;s=Float", 0.1, ua.VariantType.Float)
    south = harness.south(server.url)
    await south.start()
    try:
        await south.last_point([item("d", "ns=2;s=Double"), item("f", "ns=2;s=Float")])
    finally:
        await south.stop()
    values = by_point(harness.sink.values)
    assert values["d"]["data"]["value"] == "42"
    # A Float is a 32-bit value: its exact double expansion, as JavaScript prints it.
    assert values["f"]["data"]["value"] == "0.10000000149011612"


async def test_quality_and_timestamp_origins(server: OpcuaTestServer, harness: Harness) -> None:
    source = datetime(2023, 5, 4, 3, 2, 1, 123000, tzinfo=UTC)
    await server.node("ns=2;s=Double").write_value(
        ua.DataValue(ua.Variant(5.5, ua.VariantType.Double), SourceTimestamp=source)
    )
    south = harness.south(server.url)
    before = datetime.now(UTC) - timedelta(seconds=1)
    await south.start()
    try:
        await south.last_point(
            [
                item("oibus", "ns=2;s=Double", timestampOrigin="oibus"),
                item("point", "ns=2;s=Double", timestampOrigin="point"),
                item("server", "ns=2;s=Double", timestampOrigin="server"),
                item("uncertain", "ns=2;s=Uncertain"),
            ]
        )
    finally:
        await south.stop()
    values = by_point(harness.sink.values)
    assert values["point"]["timestamp"] == "2023-05-04T03:02:01.123Z"
    for origin in ("oibus", "server"):
        stamp = datetime.fromisoformat(values[origin]["timestamp"].replace("Z", "+00:00"))
        assert stamp >= before, origin
    assert values["uncertain"]["data"] == {
        "value": "7.5",
        "quality": json.dumps({"value": ua.StatusCodes.UncertainLastUsableValue}, separators=(",", ":")),
    }


async def test_an_unknown_node_is_warned_once_and_the_others_still_read(
    server: OpcuaTestServer, harness: Harness
) -> None:
    south = harness.south(server.url)
    items = [item("missing", "ns=2;s=DoesNotExist"), item("double", "ns=2;s=Double")]
    await south.start()
    try:
        await south.last_point(items)
        await south.last_point(items)
    finally:
        await south.stop()
    assert [value["pointId"] for value in harness.sink.values] == ["double", "double"]
    warnings = [r for r in harness.logger.records if r[1] == "item has no readable value"]
    assert len(warnings) == 1
    assert warnings[0][2]["status"] == "BadNodeIdUnknown"


async def test_ha_items_are_skipped_by_last_point_and_selected_for_history(
    server: OpcuaTestServer, harness: Harness
) -> None:
    south = harness.south(server.url)
    da, ha = item("da", "ns=2;s=Double"), item("ha", HISTORY_NODE, mode="ha")
    assert south.history_items([da, ha]) == [ha]
    await south.start()
    try:
        await south.last_point([da, ha])
    finally:
        await south.stop()
    assert [value["pointId"] for value in harness.sink.values] == ["da"]


async def test_subscription_delivers_every_change_in_batches(server: OpcuaTestServer, harness: Harness) -> None:
    south = harness.south(server.url, flushMessageTimeout=100, maxNumberOfMessages=1000)
    counter = item("counter", "ns=2;s=Counter", timestampOrigin="point")
    await south.start()
    try:
        await south.subscribe([counter, item("ha-ignored", HISTORY_NODE, mode="ha")])
        await harness.sink.wait_for(1)  # the initial value
        for value in range(1, 51):
            await server.write("ns=2;s=Counter", float(value), ua.VariantType.Double)
            await asyncio.sleep(0.005)
        await harness.sink.wait_for(51, within_s=10)
        await south.unsubscribe([counter])
        await server.write("ns=2;s=Counter", 999.0, ua.VariantType.Double)
        await asyncio.sleep(0.4)
    finally:
        await south.stop()
    received = [value["data"]["value"] for value in harness.sink.values]
    assert received == [str(v) for v in range(51)], "every change, in order, none after unsubscribe"
    assert len(harness.sink.value_items) < 51, "changes are handed over in batches"
    assert all(items == ["id-counter"] for items in harness.sink.value_items)
    assert harness.lost == []


async def test_subscription_values_refused_are_kept_for_the_next_flush(
    server: OpcuaTestServer, harness: Harness
) -> None:
    south = harness.south(server.url, flushMessageTimeout=50)
    harness.sink.refuse = True
    await south.start()
    try:
        await south.subscribe([item("counter", "ns=2;s=Counter")])
        async with asyncio.timeout(5):
            while harness.sink.refused < 2:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        await server.write("ns=2;s=Counter", 1.0, ua.VariantType.Double)
        await asyncio.sleep(0.3)
        harness.sink.refuse = False
        await harness.sink.wait_for(2)
    finally:
        await south.stop()
    assert [value["data"]["value"] for value in harness.sink.values] == ["0", "1"]


async def test_raw_history_follows_continuation_points(server: OpcuaTestServer, harness: Harness) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    points = [(start + timedelta(seconds=i), float(i)) for i in range(10)]
    await server.add_history(points)
    south = harness.south(server.url)
    ha = item("hist", HISTORY_NODE, mode="ha", haMode={"aggregate": "raw"})
    await south.start()
    try:
        newest = await south.history_query([ha], start, start + timedelta(seconds=60))
    finally:
        await south.stop()
    assert [value["data"]["value"] for value in harness.sink.values] == [str(i) for i in range(10)]
    assert len(harness.sink.value_items) == 3, "one hand-over per page of 4 (server page size)"
    assert harness.sink.values[3]["timestamp"] == "2024-01-01T00:00:03.000Z"
    assert newest == start + timedelta(seconds=9)


@pytest.mark.parametrize(
    ("aggregate", "resampling", "expected"),
    [
        ("average", "10s", ["4.5", "14.5"]),
        ("minimum", "10s", ["0", "10"]),
        ("maximum", "10s", ["9", "19"]),
        ("count", "10s", ["10", "10"]),
        ("average", "none", ["9.5"]),
        ("count", "second", ["1"] * 20),
    ],
)
async def test_aggregated_history(
    server: OpcuaTestServer, harness: Harness, aggregate: str, resampling: str, expected: list[str]
) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    await server.add_history([(start + timedelta(seconds=i), float(i)) for i in range(20)])
    south = harness.south(server.url)
    ha = item("agg", HISTORY_NODE, mode="ha", haMode={"aggregate": aggregate, "resampling": resampling})
    await south.start()
    try:
        newest = await south.history_query([ha], start, start + timedelta(seconds=20))
    finally:
        await south.stop()
    assert [value["data"]["value"] for value in harness.sink.values] == expected
    assert harness.sink.values[0]["timestamp"] == "2024-01-01T00:00:00.000Z"
    assert newest is not None and newest >= start


async def test_empty_aggregate_intervals_give_no_value(server: OpcuaTestServer, harness: Harness) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    await server.add_history([(start + timedelta(seconds=15), 3.0)])
    south = harness.south(server.url)
    ha = item("agg", HISTORY_NODE, mode="ha", haMode={"aggregate": "maximum", "resampling": "10s"})
    await south.start()
    try:
        await south.history_query([ha], start, start + timedelta(seconds=30))
    finally:
        await south.stop()
    assert [(v["timestamp"], v["data"]["value"]) for v in harness.sink.values] == [("2024-01-01T00:00:10.000Z", "3")]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("policy", POLICIES)
async def test_security_modes_and_policies(
    secure_server: OpcuaTestServer, harness: Harness, data_folder: Path, mode: str, policy: str
) -> None:
    # With a user name: its password is encrypted with the policy's algorithms.
    south = harness.south(secure_server.url, securityMode=mode, securityPolicy=policy, authentication=OPERATOR)
    await south.start()
    try:
        await south.last_point([item("double", "ns=2;s=Double")])
    finally:
        await south.stop()
    assert [v["data"]["value"] for v in harness.sink.values] == ["3.25"]
    # The OIBus certificate was generated in <data folder>/certs/ with the application URI asyncua uses.
    certificate = x509.load_pem_x509_certificate((data_folder / "certs" / CERT_FILE).read_bytes())
    uris = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert uris.get_values_for_type(x509.UniformResourceIdentifier)[0].startswith("urn:")
    assert (data_folder / "certs" / PRIVATE_KEY_FILE).stat().st_mode & 0o077 == 0


async def test_a_policy_the_server_does_not_offer_is_named(server: OpcuaTestServer, harness: Harness) -> None:
    south = harness.south(server.url, securityMode="sign", securityPolicy="basic256-sha256")
    with pytest.raises(ConnectorNotReady, match=r"no endpoint with securityMode 'sign'.*basic256-sha256"):
        await south.start()


async def test_the_certificate_is_generated_once_and_reused(
    secure_server: OpcuaTestServer, harness: Harness, data_folder: Path
) -> None:
    first = b""
    for attempt in range(2):
        south = harness.south(
            secure_server.url, securityMode="sign", securityPolicy="basic256-sha256", authentication=OPERATOR
        )
        await south.start()
        await south.stop()
        if attempt == 0:
            first = (data_folder / "certs" / CERT_FILE).read_bytes()
    assert (data_folder / "certs" / CERT_FILE).read_bytes() == first


async def test_user_and_password(secure_server: OpcuaTestServer, harness: Harness) -> None:
    url = secure_server.url
    good = harness.south(url, authentication=OPERATOR)
    await good.start()
    try:
        await good.last_point([item("double", "ns=2;s=Double")])
    finally:
        await good.stop()
    bad = harness.south(url, authentication={"type": "basic", "username": "operator", "password": "nope"})
    with pytest.raises(ConnectorNotReady, match=r"rejected the user identity.*username and password") as caught:
        await bad.test_connection()
    assert "nope" not in str(caught.value)
    assert len(harness.sink.values) == 1


async def test_anonymous_refused_when_the_server_wants_a_user(secure_server: OpcuaTestServer, harness: Harness) -> None:
    with pytest.raises(ConnectorNotReady, match=r"rejected the user identity.*refuses anonymous"):
        await harness.south(secure_server.url).start()


async def test_user_certificate(secure_server: OpcuaTestServer, harness: Harness, data_folder: Path) -> None:
    cert_pem, key_pem = USER_CERT
    (data_folder / "user.pem").write_bytes(cert_pem)
    (data_folder / "user.key").write_bytes(key_pem)
    other_pem, other_key = self_signed_certificate("intruder", "urn:oibus:intruder", "localhost")
    (data_folder / "other.pem").write_bytes(other_pem)
    (data_folder / "other.key").write_bytes(other_key)
    url = secure_server.url
    secure = {"securityMode": "sign-and-encrypt", "securityPolicy": "basic256-sha256"}
    good = harness.south(
        url, authentication={"type": "cert", "certFilePath": "user.pem", "keyFilePath": "user.key"}, **secure
    )
    await good.start()
    try:
        await good.last_point([item("double", "ns=2;s=Double")])
    finally:
        await good.stop()
    untrusted = harness.south(
        url, authentication={"type": "cert", "certFilePath": "other.pem", "keyFilePath": "other.key"}, **secure
    )
    with pytest.raises(ConnectorNotReady, match="certFilePath and keyFilePath"):
        await untrusted.start()
    missing = harness.south(
        url, authentication={"type": "cert", "certFilePath": "none.pem", "keyFilePath": "user.key"}, **secure
    )
    with pytest.raises(ConnectorFatal, match=r"authentication.certFilePath: cannot read"):
        await missing.start()
    assert len(harness.sink.values) == 1


async def test_connection_test_reasons(server: OpcuaTestServer, harness: Harness) -> None:
    await harness.south(server.url).test_connection()
    with closed_port() as port, pytest.raises(ConnectorNotReady, match="refused the connection"):
        await harness.south(f"opc.tcp://127.0.0.1:{port}/x").test_connection()
    with pytest.raises(ConnectorNotReady, match="unknown"):
        await harness.south("opc.tcp://no-such-host.invalid:4840/").test_connection()


async def test_item_test_reads_da_and_ha(server: OpcuaTestServer, harness: Harness) -> None:
    start = datetime.now(UTC) - timedelta(minutes=5)
    await server.add_history([(start + timedelta(seconds=1), 1.0), (start + timedelta(seconds=2), 2.0)])
    south = harness.south(server.url)
    # The window ends before the server started (its start value is historized too).
    await south.test_item(item("double", "ns=2;s=Double"), start, start + timedelta(minutes=1))
    await south.test_item(item("hist", HISTORY_NODE, mode="ha"), start, start + timedelta(minutes=1))
    assert [v["data"]["value"] for v in harness.sink.values] == ["3.25", "1", "2"]
    with pytest.raises(ConnectorError, match="ns=2;s=Nothing has no readable value"):
        await south.test_item(item("missing", "ns=2;s=Nothing"), start, start)


async def test_a_lost_session_is_reported_once(harness: Harness) -> None:
    async with OpcuaTestServer() as server:
        south = harness.south(server.url)
        await south.start()
        await south.subscribe([item("counter", "ns=2;s=Counter")])
        await server.stop()
        async with asyncio.timeout(10):
            while not harness.lost:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        await asyncio.sleep(1.5)
        await south.stop()
    assert len(harness.lost) == 1
    assert server.url in harness.lost[0]
