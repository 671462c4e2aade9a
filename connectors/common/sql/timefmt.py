"""Luxon-style date-time formats (``yyyy-MM-dd HH:mm:ss.SSS``), as upstream's settings write them.

Upstream formats and parses with luxon tokens; operators copy those strings between versions, so we accept
them as they are and translate them once, at validation, into a ``strftime``/``strptime`` pattern. Only
the tokens below are known: any other letter outside single quotes is an error that names the field, so a
typo never turns into a silently wrong instant.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["compile_format", "format_instant", "iso_writer", "parse_instant", "zone"]

# Longest first, so that ``yyyy`` wins over ``yy`` and ``MMMM`` over ``MM``.
_TOKENS: dict[str, str] = {
    "yyyy": "%Y",
    "yy": "%y",
    "MMMM": "%B",
    "MMM": "%b",
    "MM": "%m",
    "M": "%m",
    "dd": "%d",
    "d": "%d",
    "EEEE": "%A",
    "EEE": "%a",
    "HH": "%H",
    "H": "%H",
    "hh": "%I",
    "h": "%I",
    "mm": "%M",
    "m": "%M",
    "ss": "%S",
    "s": "%S",
    "SSS": "\ue000",
    "a": "%p",
    "ZZZ": "\ue001",
    "ZZ": "\ue002",
    "Z": "\ue002",
}
_TOKEN_RE = re.compile("|".join(sorted(map(re.escape, _TOKENS), key=len, reverse=True)) + r"|'[^']*'|[A-Za-z]|.", re.S)


def compile_format(luxon: str) -> str:
    """Translate a luxon format into an internal pattern; ``ValueError`` names the first unknown token."""
    if not luxon:
        raise ValueError("the format is empty")
    out: list[str] = []
    for token in _TOKEN_RE.findall(luxon):
        if token in _TOKENS:
            out.append(_TOKENS[token])
        elif token.startswith("'"):
            out.append(token[1:-1].replace("%", "%%") if len(token) > 2 else "'")
        elif token.isalpha():
            raise ValueError(f"unknown date-time token {token!r} in format {luxon!r}")
        else:
            out.append(token.replace("%", "%%"))
    return "".join(out)


def zone(name: str) -> tzinfo:
    """The IANA time zone ``name`` (``UTC`` included); ``ValueError`` when it does not exist."""
    if name in ("UTC", "utc", "Etc/UTC", "Z"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(f"unknown time zone {name!r}") from err


_HOUR = timedelta(hours=1)
_MINUTES_SECONDS = [f"{second // 60:02d}:{second % 60:02d}" for second in range(3600)]
_MILLISECONDS = [f".{ms:03d}" for ms in range(1000)]


class _Hour:
    """One local hour of a zone with a single UTC offset: its UTC bounds and its text up to the minutes."""

    __slots__ = ("anchor", "high", "low", "prefix")

    def __init__(self, instant: datetime, tz: tzinfo, separator: str) -> None:
        local = instant.astimezone(tz)
        start = local.replace(minute=0, second=0, microsecond=0)
        # The hour's bounds in UTC, cut at the UTC hour too: an offset changes on a UTC hour boundary or
        # on a local one, so within both bounds it holds at most one value, checked at either end.
        anchor = start.replace(tzinfo=None) - (local.utcoffset() or timedelta(0))
        utc_start = instant.astimezone(UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0)
        self.anchor = anchor.replace(tzinfo=UTC)
        self.low = max(self.anchor, utc_start.replace(tzinfo=UTC))
        self.high = min(self.anchor + _HOUR, utc_start.replace(tzinfo=UTC) + _HOUR)
        last = (self.high - timedelta(microseconds=1)).astimezone(tz)
        if last.utcoffset() != local.utcoffset() or self.low.astimezone(tz).utcoffset() != local.utcoffset():
            self.high = self.low  # A transition inside: never matches, each instant converts on its own.
        self.prefix = f"{start.year:04d}-{start.month:02d}-{start.day:02d}{separator}{start.hour:02d}:"


def iso_writer(tz: tzinfo, separator: str, milliseconds: bool) -> Callable[[datetime], str]:
    """``yyyy-MM-dd HH:mm:ss[.SSS]`` of an aware instant in ``tz``: the hot path of CSV output.

    A window holds millions of instants, mostly within a few hours: the zone offset and the text up to the
    hour are computed once per hour, and minutes, seconds and milliseconds come from tables, several times
    faster than ``astimezone`` plus ``isoformat`` (or ``strftime``) on every value.
    """
    hour = _Hour(datetime(2000, 1, 1, tzinfo=UTC), tz, separator)
    spec = "milliseconds" if milliseconds else "seconds"

    def write(instant: datetime) -> str:
        nonlocal hour
        if instant.tzinfo is not UTC:
            instant = instant.astimezone(UTC)
        if not hour.low <= instant < hour.high:
            try:
                found = _Hour(instant, tz, separator)
            except OverflowError:  # Within an hour of the calendar's ends.
                return instant.astimezone(tz).replace(tzinfo=None).isoformat(separator, spec)
            if found.low == found.high:
                return instant.astimezone(tz).replace(tzinfo=None).isoformat(separator, spec)
            hour = found
        since = instant - hour.anchor
        text = hour.prefix + _MINUTES_SECONDS[since.seconds]
        return text + _MILLISECONDS[since.microseconds // 1000] if milliseconds else text

    return write


def _offset(instant: datetime, colon: bool) -> str:
    delta = instant.utcoffset() or timedelta(0)
    minutes = int(delta.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{minutes:02d}" if colon else f"{sign}{hours:02d}{minutes:02d}"


def formatter(pattern: str, tz: tzinfo) -> Callable[[datetime], str]:
    """A function that writes an aware instant with ``pattern`` (from ``compile_format``) in ``tz``."""
    has_ms = "\ue000" in pattern
    has_offset = "\ue001" in pattern or "\ue002" in pattern

    def write(instant: datetime) -> str:
        local = instant.astimezone(tz)
        text = local.strftime(pattern)
        if has_ms:
            text = text.replace("\ue000", f"{local.microsecond // 1000:03d}")
        if has_offset:
            text = text.replace("\ue001", _offset(local, False)).replace("\ue002", _offset(local, True))
        return text

    return write


def format_instant(instant: datetime, pattern: str, tz: tzinfo) -> str:
    """Write ``instant`` with a compiled ``pattern`` in ``tz``."""
    return formatter(pattern, tz)(instant)


def parse_instant(text: str, pattern: str, tz: tzinfo) -> datetime:
    """Read ``text`` with a compiled ``pattern``; without an offset in the text it is local time in ``tz``."""
    parsed = datetime.strptime(text, pattern.replace("\ue000", "%f").replace("\ue001", "%z").replace("\ue002", "%z"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(UTC)
