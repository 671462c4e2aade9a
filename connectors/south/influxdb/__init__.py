"""InfluxDB South: InfluxQL (v1), Flux (v2) and SQL (v3) queries over history intervals, as any-content."""

from connectors.south.influxdb.connector import InfluxdbSouth
from connectors.south.influxdb.manifest import MANIFEST

__all__ = ["MANIFEST", "InfluxdbSouth"]
