"""OIAnalytics North: time-values (JSON or gzip) and files (multipart) to OIAnalytics."""

from connectors.north.oianalytics.connector import OIAnalyticsNorth
from connectors.north.oianalytics.manifest import MANIFEST

__all__ = ["MANIFEST", "OIAnalyticsNorth"]
