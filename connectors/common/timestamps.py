"""Timestamps in upstream's types (string, iso-string, unix-epoch, unix-epoch-ms), read to and written from UTC.

Upstream formats string timestamps with Luxon tokens (``yyyy-MM-dd HH:mm:ss``); they are translated once to
``strptime`` directives.
"""

from __future__ import annotations

import functools
import math
import re
import zoneinfo
from datetime import UTC, datetime, timedelta

__all__ = ["format_instant", "format_timestamp", "iso_utc", "parse_timestamp", "strptime_format"]

_LUXON = {
    "yyyy": "%Y",
    "yy": "%y",
    "MMMM": "%B",
    "MMM": "%b",
    "MM": "%m",
    "M": "%m",
    "dd": "%d",
    "d": "%d",
    "HH": "%H",
    "H": "%H",
    "hh": "%I",
    "h": "%I",
    "mm": "%M",
    "m": "%M",
    "ss": "%S",
    "s": "%S",
    "SSS": "%f",
    "S": "%f",
    "a": "%p",
    "ZZZ": "%z",
    "ZZ": "%z",
    "Z": "%z",
}
_TOKEN = re.compile(r"'([^']*)'|([A-Za-z])\2*|(.)", re.DOTALL)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@functools.cache
def strptime_format(luxon: str) -> str:
    """The ``strptime`` format of a Luxon format; ``ValueError`` names an unsupported token."""
    parts: list[str] = []
    for match in _TOKEN.finditer(luxon):
        quoted, _, other = match.groups()
        if quoted is not None:
            parts.append(quoted.replace("%", "%%"))
        elif other is not None:
            parts.append(other.replace("%", "%%"))
        else:
            token = match.group(0)
            if token not in _LUXON:
                raise ValueError(f"timestampFormat: unsupported token {token!r} in {luxon!r}")
            parts.append(_LUXON[token])
    return "".join(parts)


def iso_utc(moment: datetime) -> str:
    """An instant as upstream writes it: ISO-8601 UTC with milliseconds and ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_timestamp(raw: object, kind: str, timezone: str, luxon_format: str) -> str:
    """Convert a timestamp read from a payload to ISO-8601 UTC; ``ValueError`` says why it cannot be."""
    if kind in ("unix-epoch", "unix-epoch-ms"):
        number = _number(raw)
        millis = number if kind == "unix-epoch-ms" else number * 1000
        return iso_utc(_EPOCH + timedelta(milliseconds=millis))
    if not isinstance(raw, str):
        raise ValueError(f"expected a string timestamp, got {type(raw).__name__}")
    if kind == "iso-string":
        parsed = datetime.fromisoformat(raw)
        return iso_utc(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))
    parsed = datetime.strptime(raw, strptime_format(luxon_format))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_zone(timezone))
    return iso_utc(parsed)


@functools.cache
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def _number(raw: object) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError(f"expected an epoch number, got {type(raw).__name__}")
    number = float(raw)
    if not math.isfinite(number):
        raise ValueError(f"expected a finite epoch, got {raw!r}")
    return number


def format_instant(moment: datetime, kind: str, timezone: str, luxon_format: str) -> str:
    """Write an instant as upstream's types do (the reverse of ``parse_timestamp``), for request parameters."""
    if kind == "unix-epoch":
        return str(int(moment.timestamp()))
    if kind == "unix-epoch-ms":
        return str(int(moment.timestamp() * 1000))
    if kind == "iso-string":
        return iso_utc(moment)
    local = moment.astimezone(_zone(timezone))
    # strftime's %f is microseconds; Luxon's SSS is milliseconds.
    directives = strptime_format(luxon_format).replace("%f", f"{local.microsecond // 1000:03d}")
    return local.strftime(directives)


def format_timestamp(
    iso: str, kind: str, timezone: str = "UTC", luxon_format: str = "yyyy-MM-dd HH:mm:ss"
) -> str | int:
    """Write an ISO-8601 instant as ``kind`` for a transformer's output: epochs are numbers, as upstream writes them."""
    parsed = datetime.fromisoformat(iso)
    text = format_instant(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC), kind, timezone, luxon_format)
    return int(text) if kind in ("unix-epoch", "unix-epoch-ms") else text
