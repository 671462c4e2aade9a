"""Manifest and settings of the OIAnalytics North."""

from __future__ import annotations

from typing import Annotated

import msgspec

from connectors.common.oianalytics import SpecificSettings, TimeoutSeconds, UseOiaModule
from connectors.manifest import ConnectorManifest

__all__ = ["MANIFEST", "OIAnalyticsNorthSettings"]


class OIAnalyticsNorthSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Where to send: the registered OIAnalytics (``useOiaModule``) or the one ``specificSettings`` describe."""

    use_oia_module: UseOiaModule = True
    timeout: TimeoutSeconds = 30
    compress: Annotated[bool, msgspec.Meta(title="Compress", description="gzip values and files before sending.")] = (
        False
    )
    specific_settings: SpecificSettings = None


MANIFEST = ConnectorManifest(
    id="oianalytics",
    kind="north",
    name="OIAnalytics",
    category="api",
    description="Send time-values and files to OIAnalytics",
    settings=OIAnalyticsNorthSettings,
    types=("any", "time-values", "oianalytics"),
)
