"""South OIAnalytics against the fake OIAnalytics: query parameters, parsing, tracked instant, errors."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from fakes import RecordingLogger, RecordingSink
from servers.oianalytics import FakeOIAnalytics

from connectors.base import ConnectorContext, Item
from connectors.common.oianalytics import EXTRA_KEY
from connectors.errors import ConnectorError
from connectors.south.oianalytics import OIAnalyticsSouth
from connectors.south.oianalytics.manifest import OIAnalyticsItemSettings, OIAnalyticsSouthSettings

START = datetime(2022, 1, 1, tzinfo=UTC)
END = datetime(2022, 1, 2, tzinfo=UTC)
SERIES = [
    {
        "type": "time-values",
        "unit": {"id": "180", "label": "pH"},
        "data": {"dataType": "RAW_TIME_DATA", "id": "D5", "reference": "DCS_PH_MCT", "description": "pH"},
        "timestamps": ["2022-01-01T00:00:00Z", "2022-01-01T00:10:00Z"],
        "values": [7.51, 7.52],
    }
]


class NullCache:
    def get_tracked_instant(self, item_id: str | None, group_id: str | None = None) -> datetime | None:
        return None

    def set_tracked_instant(self, item_id: str | None, instant: datetime, group_id: str | None = None) -> None:
        pass

    def get_value(self, item_id: str | None, group_id: str | None = None) -> Any:
        return None

    def set_value(self, item_id: str | None, value: Any, group_id: str | None = None) -> None:
        pass


def south(tmp_path: Path, fake: FakeOIAnalytics, sink: RecordingSink, secret: str | None = None) -> OIAnalyticsSouth:
    settings = {
        "useOiaModule": False,
        "specificSettings": {"host": fake.url, "accessKey": fake.basic[0], "secretKey": secret or fake.basic[1]},
    }
    context = ConnectorContext(
        id="s1",
        name="From OIA",
        logger=RecordingLogger(),
        base_folder=tmp_path,
        data_folder=tmp_path,
        extra={EXTRA_KEY: {"userAgent": "OIBus/9.9.9 (https://oibus.optimistik.com/)", "gatewayPrefix": ""}},
    )
    return OIAnalyticsSouth(msgspec.convert(settings, OIAnalyticsSouthSettings), context, sink, NullCache())


def item(**serialization: Any) -> Item[OIAnalyticsItemSettings]:
    params = [
        {"key": "from", "value": "@StartTime"},
        {"key": "to", "value": "@EndTime"},
        {"key": "data-reference", "value": "A"},
        {"key": "data-reference", "value": "B"},
    ]
    settings = msgspec.convert(
        {"endpoint": "/api/oianalytics/data/values", "queryParams": params, "serialization": serialization},
        OIAnalyticsItemSettings,
    )
    return Item(id="i1", name="values", enabled=True, settings=settings)


async def test_history_query(tmp_path: Path) -> None:
    sink = RecordingSink()
    with FakeOIAnalytics(series=SERIES) as fake:
        connector = south(tmp_path, fake, sink)
        await connector.start()
        await connector.test_connection()
        newest = await connector.history_query([item(type="time-values")], START, END)
        assert fake.queries == [
            {
                "from": ["2022-01-01T00:00:00.000Z"],
                "to": ["2022-01-02T00:00:00.000Z"],
                "data-reference": ["A", "B"],
            }
        ]
        assert fake.problems == []
    assert newest == datetime(2022, 1, 1, 0, 10, tzinfo=UTC)
    assert sink.values == [
        {"pointId": "DCS_PH_MCT", "timestamp": "2022-01-01T00:00:00.000Z", "data": {"value": 7.51, "unit": "pH"}},
        {"pointId": "DCS_PH_MCT", "timestamp": "2022-01-01T00:10:00.000Z", "data": {"value": 7.52, "unit": "pH"}},
    ]


async def test_history_query_writes_csv_as_upstream_by_default(tmp_path: Path) -> None:
    sink = RecordingSink()
    with FakeOIAnalytics(series=SERIES) as fake:
        connector = south(tmp_path, fake, sink)
        await connector.start()
        newest = await connector.history_query([item()], START, END)
        gzipped = await connector.history_query(
            [
                item(
                    delimiter="SEMI_COLON",
                    compression=True,
                    outputTimezone="UTC",
                    filename="@ItemName-@QueryStartTime.csv",
                )
            ],
            START,
            END,
        )
    assert newest == gzipped == datetime(2022, 1, 1, 0, 10, tzinfo=UTC)
    assert not sink.values and len(sink.files) == 2
    plain, packed = sink.files
    assert plain.filename.startswith("From OIA-values-") and plain.filename.endswith(".csv")
    assert plain.data.decode().splitlines() == [
        "pointId,timestamp,value,unit",
        "DCS_PH_MCT,2022-01-01 01:00:00.000,7.51,pH",
        "DCS_PH_MCT,2022-01-01 01:10:00.000,7.52,pH",
    ]
    assert packed.filename == "values-2022_01_01_00_00_00_000.csv.gz"
    assert gzip.decompress(packed.data).decode().splitlines()[1] == "DCS_PH_MCT;2022-01-01 00:00:00.000;7.51;pH"
    assert not list((tmp_path / "tmp").iterdir()), "the scratch files are handed over, none left behind"


def test_serialization_errors_name_the_field() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"Invalid enum value 'json' - at `\$.serialization.type`"):
        item(type="json")
    with pytest.raises(msgspec.ValidationError, match="outputTimezone: unknown time zone 'Mars/Olympus'"):
        item(outputTimezone="Mars/Olympus")


async def test_errors(tmp_path: Path) -> None:
    with FakeOIAnalytics(series=[{"unit": {"label": "x"}}]) as fake:
        bad_answer = south(tmp_path, fake, RecordingSink())
        await bad_answer.start()
        with pytest.raises(ConnectorError, match="unexpected OIAnalytics answer"):
            await bad_answer.history_query([item()], START, END)
        refused = south(tmp_path, fake, RecordingSink(), secret="wrong")
        await refused.start()
        with pytest.raises(ConnectorError, match="HTTP request failed with status code 401"):
            await refused.history_query([item()], START, END)
