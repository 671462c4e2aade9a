"""OIAnalytics South: history queries against the OIAnalytics REST API."""

from connectors.south.oianalytics.connector import OIAnalyticsSouth
from connectors.south.oianalytics.manifest import MANIFEST

__all__ = ["MANIFEST", "OIAnalyticsSouth"]
