"""Timestamps read from MQTT payloads: the shared upstream-style timestamp helpers."""

from connectors.common.timestamps import iso_utc, parse_timestamp, strptime_format

__all__ = ["iso_utc", "parse_timestamp", "strptime_format"]
