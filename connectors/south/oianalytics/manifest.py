"""Manifest and settings of the OIAnalytics South."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from connectors.common.oianalytics import SpecificSettings, TimeoutSeconds, UseOiaModule
from connectors.common.sql.settings import SqlSerialization
from connectors.manifest import ConnectorManifest, Modes

__all__ = ["MANIFEST", "OIAnalyticsItemSettings", "OIAnalyticsSerialization", "OIAnalyticsSouthSettings"]


class OIAnalyticsSouthSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Where to query: the registered OIAnalytics (``useOiaModule``) or the one ``specificSettings`` describe."""

    use_oia_module: UseOiaModule = True
    timeout: TimeoutSeconds = 30
    specific_settings: SpecificSettings = None


class QueryParam(msgspec.Struct, frozen=True, kw_only=True):
    """One query parameter; ``@StartTime`` and ``@EndTime`` in ``value`` become the interval's ISO instants."""

    key: Annotated[str, msgspec.Meta(min_length=1)]
    value: str


class OIAnalyticsSerialization(SqlSerialization, frozen=True, kw_only=True, rename="camel"):
    """How an item's points are handed over: a CSV file per interval (upstream), or time-values."""

    # Widens the type SqlSerialization fixes to "csv": this South keeps the time-values it sent before CSV.
    type: Annotated[
        Literal["csv", "time-values"],
        msgspec.Meta(
            title="Type",
            description="`csv`: one file per interval, columns pointId, timestamp, value, unit (upstream); "
            "`time-values`: the points as values.",
        ),
    ] = "csv"  # type: ignore[assignment]


class OIAnalyticsItemSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """What one item queries."""

    endpoint: Annotated[
        str,
        msgspec.Meta(
            min_length=1, title="Endpoint", description="Path of the query, e.g. /api/oianalytics/data/values."
        ),
    ] = "/endpoint"
    query_params: Annotated[
        list[QueryParam],
        msgspec.Meta(title="Query parameters", description="Repeated keys are sent repeated."),
    ] = []
    serialization: Annotated[
        OIAnalyticsSerialization, msgspec.Meta(title="Serialization", description="How the points are written.")
    ] = msgspec.field(default_factory=OIAnalyticsSerialization)


MANIFEST = ConnectorManifest(
    id="oianalytics",
    kind="south",
    name="OIAnalytics",
    category="api",
    description="Query time-values from OIAnalytics (history)",
    settings=OIAnalyticsSouthSettings,
    item_settings=OIAnalyticsItemSettings,
    modes=Modes(history=True),
)
