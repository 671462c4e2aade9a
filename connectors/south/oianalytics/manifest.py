"""Manifest and settings of the OIAnalytics South."""

from __future__ import annotations

from typing import Annotated

import msgspec

from connectors.common.oianalytics import SpecificSettings, TimeoutSeconds, UseOiaModule
from connectors.manifest import ConnectorManifest, Modes

__all__ = ["MANIFEST", "OIAnalyticsItemSettings", "OIAnalyticsSouthSettings"]


class OIAnalyticsSouthSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Where to query: the registered OIAnalytics (``useOiaModule``) or the one ``specificSettings`` describe."""

    use_oia_module: UseOiaModule = True
    timeout: TimeoutSeconds = 30
    specific_settings: SpecificSettings = None


class QueryParam(msgspec.Struct, frozen=True, kw_only=True):
    """One query parameter; ``@StartTime`` and ``@EndTime`` in ``value`` become the interval's ISO instants."""

    key: Annotated[str, msgspec.Meta(min_length=1)]
    value: str


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
