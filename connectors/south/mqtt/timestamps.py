"""Timestamps read from MQTT payloads: the shared conversions of ``connectors.common.timestamps``."""

from connectors.common.timestamps import iso_utc, parse_timestamp, strptime_format

__all__ = ["iso_utc", "parse_timestamp", "strptime_format"]
