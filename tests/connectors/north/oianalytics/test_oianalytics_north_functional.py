"""North OIAnalytics against the fake OIAnalytics: values (plain and gzip), files, auth, retry classification."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import msgspec
import pytest
from fakes import RecordingLogger
from servers.oianalytics import FakeOIAnalytics

from connectors.base import ConnectorContext, TimeValue
from connectors.common.oianalytics import EXTRA_KEY, OIAConnection
from connectors.errors import ConnectorError, ConnectorFatal, ConnectorNotReady, SendError
from connectors.north.oianalytics import OIAnalyticsNorth
from connectors.north.oianalytics.manifest import OIAnalyticsNorthSettings

VALUES: list[TimeValue] = [
    {"pointId": "DCS_PH_MCT", "timestamp": "2026-01-01T00:00:00.000Z", "data": {"value": 7.51, "quality": "192"}},
]
UA = "OIBus/9.9.9 (https://oibus.optimistik.com/)"


@pytest.fixture
def fake() -> Any:
    with FakeOIAnalytics() as server:
        yield server


def north(tmp_path: Path, settings: dict[str, Any], extra: dict[str, Any] | None = None) -> OIAnalyticsNorth:
    context = ConnectorContext(
        id="n1",
        name="To OIA",
        logger=RecordingLogger(),
        base_folder=tmp_path,
        data_folder=tmp_path,
        extra=extra or {EXTRA_KEY: {"userAgent": UA, "gatewayPrefix": "", "registration": None}},
    )
    return OIAnalyticsNorth(msgspec.convert(settings, OIAnalyticsNorthSettings), context)


def basic(fake: FakeOIAnalytics, secret: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "useOiaModule": False,
        "specificSettings": {
            "host": fake.url,
            "accessKey": fake.basic[0],
            "secretKey": secret if secret is not None else fake.basic[1],
        },
        **extra,
    }


async def test_values_and_files_with_basic_credentials(tmp_path: Path, fake: FakeOIAnalytics) -> None:
    connector = north(tmp_path, basic(fake))
    await connector.start()
    await connector.test_connection()
    await connector.handle_values_json(msgspec.json.encode(VALUES))
    file = tmp_path / "data.csv"
    file.write_text("a,b\n1,2\n")
    await connector.handle_file(file, "data.csv")
    await connector.stop()
    assert fake.values == [("To OIA", VALUES, False)]
    assert fake.files == [("To OIA", "data.csv", b"a,b\n1,2\n")]
    assert fake.problems == []


async def test_compressed(tmp_path: Path, fake: FakeOIAnalytics) -> None:
    connector = north(tmp_path, basic(fake, compress=True))
    await connector.start()
    await connector.handle_content("oianalytics", msgspec.json.encode(VALUES))
    file = tmp_path / "data.csv"
    file.write_text("x\n")
    await connector.handle_file(file, "data.csv")
    assert fake.values == [("To OIA", VALUES, True)]
    assert fake.files[0][1] == "data.csv.gz" and gzip.decompress(fake.files[0][2]) == b"x\n"
    assert fake.problems == []


async def test_registration_module(tmp_path: Path, fake: FakeOIAnalytics) -> None:
    registered = OIAConnection(host=fake.url, user_agent=UA).with_token(fake.token)
    extra = {EXTRA_KEY: {"userAgent": UA, "gatewayPrefix": "", "registration": registered.to_wire()}}
    connector = north(tmp_path, {"useOiaModule": True}, extra)
    await connector.start()
    await connector.handle_values(VALUES)
    assert fake.values == [("To OIA", VALUES, False)]
    # Not registered: the North waits to be restarted (retryable), it does not fail for good.
    with pytest.raises(ConnectorNotReady, match="not registered"):
        await north(tmp_path, {"useOiaModule": True}).start()


async def test_errors_are_classified_as_upstream(tmp_path: Path, fake: FakeOIAnalytics) -> None:
    refused = north(tmp_path, basic(fake, secret="wrong"))
    await refused.start()
    with pytest.raises(SendError) as caught:
        await refused.handle_values(VALUES)
    assert caught.value.retry_forever is True and "Error 401" in str(caught.value)
    with pytest.raises(ConnectorError, match="401"):
        await refused.test_connection()
    unreachable = north(tmp_path, {"useOiaModule": False, "specificSettings": {"host": "http://127.0.0.1:9"}})
    await unreachable.start()
    with pytest.raises(SendError) as caught:
        await unreachable.handle_values(VALUES)
    assert caught.value.retry_forever is True
    bad_values = north(tmp_path, basic(fake))
    await bad_values.start()
    with pytest.raises(SendError) as caught:
        await bad_values.handle_values_json(b'[{"pointId": "x"}]')  # the fake answers 400: not retried forever
    assert caught.value.retry_forever is False
    fake.problems.clear()
    with pytest.raises(ConnectorFatal, match="aad-client-secret"):
        await north(
            tmp_path, {"useOiaModule": False, "specificSettings": {"authentication": "aad-client-secret"}}
        ).start()
