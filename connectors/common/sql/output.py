"""Rows to CSV, chunk by chunk: date-time fields read by their rules, written in the output format and zone.

A read interval may hold millions of rows; they arrive from the driver in chunks and each chunk goes to the
file before the next is fetched, so memory holds one chunk, never the interval.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO, cast

from connectors.common.sql.settings import DELIMITERS, DateTimeField, SqlSerialization
from connectors.common.sql.timefmt import compile_format, formatter, iso_writer, parse_instant, zone

__all__ = [
    "CsvRowWriter",
    "filename_for",
    "instant_reader",
    "output_name",
    "output_stream",
    "parameter_value",
    "utc_stamp",
]

_NATIVE = frozenset(
    {"timestamp", "timestamptz", "date", "date-time", "date-time-2", "date-time-offset", "small-date-time"}
)


@lru_cache(maxsize=256)
def _pattern(luxon: str) -> str:
    return compile_format(luxon)


def utc_stamp(instant: datetime) -> str:
    """``yyyy_MM_dd_HH_mm_ss_SSS`` in UTC, as upstream's filename variables write an instant."""
    utc = instant.astimezone(UTC)
    return utc.strftime("%Y_%m_%d_%H_%M_%S_") + f"{utc.microsecond // 1000:03d}"


def filename_for(template: str, *, connector: str, item: str, start: datetime, end: datetime, now: datetime) -> str:
    """Apply the filename variables; path separators in names are replaced so a name cannot leave its folder."""
    name = (
        template.replace("@ConnectorName", connector)
        .replace("@ItemName", item)
        .replace("@CurrentDate", utc_stamp(now))
        .replace("@QueryStartTime", utc_stamp(start))
        .replace("@QueryEndTime", utc_stamp(end))
    )
    return name.replace("/", "_").replace("\\", "_")


def output_name(out: SqlSerialization, *, connector: str, item: str, start: datetime, end: datetime) -> str:
    """The name of an interval's file: the filename variables applied now, ``.gz`` added when compressed."""
    name = filename_for(out.filename, connector=connector, item=item, start=start, end=end, now=datetime.now(UTC))
    return name + ".gz" if out.compression and not name.endswith(".gz") else name


_ISO_SHAPES = frozenset(
    {"yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd HH:mm:ss.SSS", "yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd'T'HH:mm:ss.SSS"}
)


def _iso_reader(tz: tzinfo, length: int) -> Callable[[Any], datetime]:
    def read(value: Any) -> datetime:
        text = str(value)
        if len(text) != length or text[10] not in " T":
            raise ValueError(f"{text!r} does not match the format")
        parsed: datetime = datetime.fromisoformat(text)
        return parsed.replace(tzinfo=tz).astimezone(UTC)

    return read


def instant_writer(luxon: str, tz: tzinfo) -> Callable[[datetime], str]:
    """A function that writes an instant in ``luxon`` format and zone ``tz``; ISO shapes take a fast path."""
    if luxon in _ISO_SHAPES:
        return iso_writer(tz, "T" if "'T'" in luxon else " ", luxon.endswith("SSS"))
    return formatter(_pattern(luxon), tz)


def instant_reader(field: DateTimeField) -> Callable[[Any], datetime]:
    """A function that reads one value of ``field`` as an aware UTC instant (``ValueError`` if it cannot)."""
    tz = zone(field.timezone)
    kind = field.type
    if kind == "string":
        if field.format in _ISO_SHAPES:
            # The C ISO parser is about ten times faster than strptime, and these formats are ISO shapes.
            return _iso_reader(tz, len(field.format) - field.format.count("'"))
        pattern = _pattern(field.format)
        return lambda value: parse_instant(str(value), pattern, tz)
    if kind == "unix-epoch":
        return lambda value: datetime.fromtimestamp(float(value), UTC)
    if kind == "unix-epoch-ms":
        return lambda value: datetime.fromtimestamp(float(value) / 1000, UTC)

    def native(value: Any) -> datetime:
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        elif isinstance(value, date) and not isinstance(value, datetime):
            value = datetime(value.year, value.month, value.day)
        if not isinstance(value, datetime):
            raise ValueError(f"not a date-time: {value!r}")
        if value.tzinfo is UTC:
            return value
        instant: datetime = value if value.tzinfo is not None else value.replace(tzinfo=tz)
        return instant.astimezone(UTC)

    return native


def parameter_value(instant: datetime, field: DateTimeField | None, native: Callable[[datetime], Any]) -> Any:
    """What ``@StartTime``/``@EndTime`` is bound to: the instant in the reference field's own type."""
    if field is None:
        return native(instant)
    kind = field.type
    if kind == "string":
        return instant_writer(field.format, zone(field.timezone))(instant)
    if kind == "iso-string":
        return instant.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if kind == "unix-epoch":
        return int(instant.timestamp())
    if kind == "unix-epoch-ms":
        return int(instant.timestamp() * 1000)
    if kind in ("timestamptz", "date-time-offset"):
        return native(instant)
    # A native type without an offset holds local time of the field's zone.
    return instant.astimezone(zone(field.timezone)).replace(tzinfo=None)


def output_stream(path: Path, compression: bool) -> io.BufferedIOBase:
    """The binary file an interval's CSV goes into (gzip when ``compression``)."""
    # The caller closes it.
    return gzip.GzipFile(path, "wb", compresslevel=6) if compression else open(path, "wb")


class CsvRowWriter:
    """Writes one CSV file: a header, then rows chunk by chunk; tracks the newest reference instant.

    A date-time field's value is read by its rules and written in the serialization's format and zone; a
    value that cannot be read is written as it came and counted in ``unreadable`` (it never moves the
    tracked instant).
    """

    def __init__(self, path: Path, columns: Sequence[str], fields: Sequence[DateTimeField], out: SqlSerialization):
        self.path = path
        self.rows = 0
        self.newest: datetime | None = None
        self.unreadable: dict[str, int] = {}
        # Closed by close(), through the text wrapper.
        raw = output_stream(path, out.compression)
        self._raw = raw
        self._text = io.TextIOWrapper(cast(BinaryIO, raw), encoding="utf-8", newline="")
        # The csv writer calls ``write`` once per row: into a StringIO that costs a fraction of a call on
        # the encoding wrapper, which then takes the whole chunk at once.
        self._buffer = io.StringIO()
        self._csv = csv.writer(self._buffer, delimiter=DELIMITERS[out.delimiter], lineterminator="\n")
        self._csv.writerow(columns)
        self._flush_buffer()
        write = instant_writer(out.output_timestamp_format, zone(out.output_timezone))
        index = {name: position for position, name in enumerate(columns)}
        self._converters: list[tuple[int, str, Callable[[Any], datetime], bool]] = [
            (index[field.field_name], field.field_name, instant_reader(field), field.use_as_reference)
            for field in fields
            if field.field_name in index
        ]
        self._write_instant = write

    def write(self, chunk: Sequence[Sequence[Any]]) -> None:
        """Append a chunk of rows."""
        if chunk and self._converters:
            # Column by column: one transposition in C instead of a list per row, and each date-time
            # column converted in one tight loop.
            columns: list[Sequence[Any]] = list(zip(*chunk, strict=True))
            for position, name, read, reference in self._converters:
                columns[position] = self._convert(columns[position], name, read, reference)
            self._csv.writerows(zip(*columns, strict=True))
        else:
            self._csv.writerows(chunk)
        self.rows += len(chunk)
        self._flush_buffer()

    def _convert(self, column: Sequence[Any], name: str, read: Callable[[Any], datetime], reference: bool) -> list[Any]:
        write_instant = self._write_instant
        newest = self.newest
        unreadable = 0
        out: list[Any] = []
        append = out.append
        for value in column:
            if value is None:
                append(None)
                continue
            try:
                instant = read(value)
            except (ValueError, TypeError, OverflowError):
                unreadable += 1
                append(value)
                continue
            append(write_instant(instant))
            if reference and (newest is None or instant > newest):
                newest = instant
        if reference:
            self.newest = newest
        if unreadable:
            self.unreadable[name] = self.unreadable.get(name, 0) + unreadable
        return out

    def _flush_buffer(self) -> None:
        buffer = self._buffer
        self._text.write(buffer.getvalue())
        buffer.seek(0)
        buffer.truncate()

    def close(self) -> None:
        """Flush and close the file."""
        self._text.close()

    def __enter__(self) -> CsvRowWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
