"""The standard transformers that write or read tables: CSV and JSON files, and OIAnalytics' value format.

- ``time-values-to-csv``: one row per value (point, timestamp, value), as a file named by ``filename``.
- ``time-values-to-json``: the values as a JSON array file named ``<10 random characters>.json``.
- ``time-values-to-oianalytics``: ``[{pointId, timestamp, data: {value}}]``, the timestamp truncated to
  ``precision``.
- ``json-to-csv`` / ``json-to-oianalytics``: rows picked from any JSON content by ``rowIteratorPath``, fields by
  JSONPath relative to the row (see :mod:`engine.routing.jsonpath` for the supported subset).
- ``csv-to-time-values`` / ``csv-to-mqtt``: one value (one message) per CSV row.

Options follow upstream's manifests field by field (names, choices and defaults), validated when a rule is
saved; a file output returns its logical file name as the third element.
"""

from __future__ import annotations

import csv
import io
import secrets
import string
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

from connectors.common.timestamps import format_timestamp, parse_timestamp
from engine.routing.jsonpath import JsonPath, compile_path

Delimiter = Literal["DOT", "SEMI_COLON", "COLON", "COMMA", "NON_BREAKING_SPACE", "SLASH", "TAB", "PIPE"]
TimestampType = Literal["string", "iso-string", "unix-epoch", "unix-epoch-ms"]
Precision = Literal["ms", "s", "min", "hr"]
FieldType = Literal["string", "number", "datetime", "array", "boolean", "object"]

DELIMITERS: dict[str, str] = {
    "DOT": ".",
    "SEMI_COLON": ";",
    "COLON": ":",
    "COMMA": ",",
    "NON_BREAKING_SPACE": "\u00a0",
    "SLASH": "/",
    "TAB": "\t",
    "PIPE": "|",
}
NEWLINES = {"CRLF": "\r\n", "LF": "\n", "CR": "\r"}
QUOTES = {"DOUBLE_QUOTE": '"', "SINGLE_QUOTE": "'", "NONE": ""}
ESCAPES = {"DOUBLE_QUOTE": '"', "BACKSLASH": "\\"}
DEFAULT_FORMAT = "yyyy-MM-dd HH:mm:ss"


class _Options(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """camelCase on the wire, as upstream."""


class DatetimeSettings(_Options, frozen=True, kw_only=True):
    """How a date-time field is read (``input*``) and written (``output*``)."""

    input_type: TimestampType = "iso-string"
    input_timezone: str = "UTC"
    input_format: str = DEFAULT_FORMAT
    input_locale: str = "en-En"
    output_type: TimestampType = "iso-string"
    output_timezone: str = "UTC"
    output_format: str = DEFAULT_FORMAT
    output_locale: str = "en-En"


class TimestampSettings(_Options, frozen=True, kw_only=True):
    """How a CSV timestamp column is read."""

    type: TimestampType = "iso-string"
    timezone: str = "UTC"
    format: str = DEFAULT_FORMAT
    locale: str = "en-En"


class OIAnalyticsDatetimeSettings(_Options, frozen=True, kw_only=True):
    """How ``json-to-oianalytics`` reads its timestamp and how precise the output is."""

    input_type: TimestampType = "iso-string"
    input_timezone: str = "UTC"
    input_format: str = DEFAULT_FORMAT
    input_locale: str = "en-En"
    output_precision: Precision = "ms"


class TimeValuesToCsvOptions(_Options, frozen=True, kw_only=True):
    """``time-values-to-csv`` (upstream's defaults)."""

    filename: str = msgspec.field(default="@CurrentDate.csv")
    encoding: Literal["UTF_8", "UTF_8_BOM", "LATIN_1", "UTF_16_LE"] = "UTF_8"
    header: bool = True
    delimiter: Delimiter = "COMMA"
    newline: Literal["CRLF", "LF", "CR"] = "LF"
    quote_char: Literal["DOUBLE_QUOTE", "SINGLE_QUOTE", "NONE"] = "NONE"
    escape_char: Literal["BACKSLASH", "DOUBLE_QUOTE"] = "DOUBLE_QUOTE"
    point_id_column_title: str = "Reference"
    value_column_title: str = "Value"
    timestamp_column_title: str = "Timestamp"
    timestamp_type: TimestampType = "iso-string"
    timestamp_format: str = "yyyy-MM-dd HH:mm:ss.SSS"
    timezone: str = "UTC"
    point_id_process: str | None = None

    def __post_init__(self) -> None:
        if not self.filename:
            raise ValueError("filename: must not be empty")


class TimeValuesToJsonOptions(_Options, frozen=True, kw_only=True):
    """``time-values-to-json`` takes no options."""


class TimeValuesToOIAnalyticsOptions(_Options, frozen=True, kw_only=True):
    """``time-values-to-oianalytics``: how precise the timestamps are."""

    precision: Precision = "ms"


class JsonField(_Options, frozen=True, kw_only=True):
    """One CSV column of ``json-to-csv``."""

    column_name: str
    json_path: str
    data_type: FieldType = "string"
    datetime_settings: DatetimeSettings | None = None


class JsonToCsvOptions(_Options, frozen=True, kw_only=True):
    """``json-to-csv``."""

    filename: str = "@CurrentDate.csv"
    delimiter: Delimiter = "SEMI_COLON"
    row_iterator_path: str = "$[*]"
    fields: list[JsonField] = []

    def __post_init__(self) -> None:
        _check_paths(self.row_iterator_path, "rowIteratorPath")
        for index, entry in enumerate(self.fields):
            _check_paths(entry.json_path, f"fields[{index}].jsonPath")


class JsonToOIAnalyticsOptions(_Options, frozen=True, kw_only=True):
    """``json-to-oianalytics``: JSONPaths (relative to each row) of the point, value and timestamp."""

    row_iterator_path: str = "$[*]"
    point_id: str
    value: str
    timestamp: str
    datetime_settings: OIAnalyticsDatetimeSettings = OIAnalyticsDatetimeSettings()

    def __post_init__(self) -> None:
        for key, path in (
            ("rowIteratorPath", self.row_iterator_path),
            ("pointId", self.point_id),
            ("value", self.value),
            ("timestamp", self.timestamp),
        ):
            _check_paths(path, key)


class CsvToTimeValuesOptions(_Options, frozen=True, kw_only=True):
    """``csv-to-time-values``; without a header, columns are named by their 0-based index."""

    delimiter: Delimiter = "SEMI_COLON"
    has_header: bool = True
    point_id_column: str = "id"
    timestamp_column: str = "timestamp"
    value_column: str = "value"
    timestamp_settings: TimestampSettings = TimestampSettings()


class ObjectField(_Options, frozen=True, kw_only=True):
    """One key of a ``csv-to-mqtt`` object payload."""

    key: str
    column: str
    data_type: Literal["string", "number", "boolean", "datetime"] = "string"
    datetime_settings: DatetimeSettings | None = None


class CsvToMqttOptions(_Options, frozen=True, kw_only=True):
    """``csv-to-mqtt``: one message per row, its topic from ``topicColumn``."""

    delimiter: Delimiter = "SEMI_COLON"
    has_header: bool = True
    topic_column: str = "topic"
    payload_type: Literal["string", "number", "boolean", "datetime", "object"] = "object"
    value_column: str | None = "value"
    datetime_settings: DatetimeSettings | None = None
    object_fields: list[ObjectField] = []


def _check_paths(path: str, key: str) -> None:
    try:
        compile_path(path)
    except ValueError as err:
        raise ValueError(f"{key}: {err}") from err


_encode = msgspec.json.Encoder().encode
_ELEMENTS = msgspec.json.Decoder(list[dict[str, Any]])
_ANY = msgspec.json.Decoder()
_ALPHABET = string.ascii_letters + string.digits


def random_id(length: int = 10) -> str:
    """A random name, as upstream's ``generateRandomId``."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def filename_variables(template: str, now: datetime | None = None) -> str:
    """``@CurrentDate`` is the UTC date ``yyyy_MM_dd_HH_mm_ss_SSS``; the query bounds are empty outside a query."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    stamp = moment.strftime("%Y_%m_%d_%H_%M_%S_") + f"{moment.microsecond // 1000:03d}"
    return template.replace("@CurrentDate", stamp).replace("@QueryStartTime", "").replace("@QueryEndTime", "")


def js_text(value: Any) -> str:
    """A cell as JavaScript writes it (``1`` not ``1.0``, ``true``, empty for null)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return _encode(value).decode()
    return str(value)


def _write_csv(rows: list[list[Any]], delimiter: str, newline: str, quote: str, escape: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(
        buffer,
        delimiter=delimiter,
        lineterminator=newline,
        quotechar=quote or '"',
        quoting=csv.QUOTE_ALL if quote else csv.QUOTE_MINIMAL,
        doublequote=escape == (quote or '"'),
        escapechar=None if escape == (quote or '"') else escape,
    )
    writer.writerows([[js_text(cell) for cell in row] for row in rows])
    # Like papaparse, no line break after the last row.
    return buffer.getvalue().removesuffix(newline)


def _encoded_text(text: str, encoding: str) -> bytes:
    if encoding == "UTF_8_BOM":
        return b"\xef\xbb\xbf" + text.encode()
    if encoding == "LATIN_1":
        return text.encode("latin-1", errors="replace")
    if encoding == "UTF_16_LE":
        return b"\xff\xfe" + text.encode("utf-16-le")
    return text.encode()


def time_values_to_csv(payload: bytes, options: TimeValuesToCsvOptions) -> tuple[bytes, int, str]:
    """A CSV file of point, timestamp and value columns."""
    values = _ELEMENTS.decode(payload)
    rows: list[list[Any]] = []
    if options.header:
        rows.append([options.point_id_column_title, options.timestamp_column_title, options.value_column_title])
    for value in values:
        data = value.get("data")
        rows.append(
            [
                value.get("pointId"),
                format_timestamp(
                    str(value.get("timestamp")), options.timestamp_type, options.timezone, options.timestamp_format
                ),
                data.get("value") if isinstance(data, dict) else None,
            ]
        )
    text = _write_csv(
        rows,
        DELIMITERS[options.delimiter],
        NEWLINES[options.newline],
        QUOTES[options.quote_char],
        ESCAPES[options.escape_char],
    )
    return _encoded_text(text, options.encoding), len(values), filename_variables(options.filename)


def time_values_to_json(payload: bytes, options: TimeValuesToJsonOptions) -> tuple[bytes, int, str]:
    """The values as they are, in a ``.json`` file."""
    values = _ELEMENTS.decode(payload)
    return _encode(values), len(values), f"{random_id()}.json"


def truncate(iso: str, precision: str) -> str:
    """An ISO instant truncated to ``precision`` (``ms`` keeps it as it is)."""
    if precision == "ms":
        return iso
    moment = datetime.fromisoformat(iso)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if precision == "hr":
        moment = moment.replace(minute=0, second=0, microsecond=0)
    elif precision == "min":
        moment = moment.replace(second=0, microsecond=0)
    else:
        moment = moment.replace(microsecond=0)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _oianalytics(point_id: Any, timestamp: str, value: Any) -> dict[str, Any]:
    return {"pointId": point_id, "timestamp": timestamp, "data": {"value": value}}


def time_values_to_oianalytics(payload: bytes, options: TimeValuesToOIAnalyticsOptions) -> tuple[bytes, int] | None:
    """Only the point, the (truncated) timestamp and the value are kept."""
    out = [
        _oianalytics(
            value.get("pointId"),
            truncate(str(value.get("timestamp")), options.precision),
            (value.get("data") or {}).get("value"),
        )
        for value in _ELEMENTS.decode(payload)
    ]
    return (_encode(out), len(out)) if out else None


def _rows(payload: bytes, row_path: str) -> list[Any]:
    return compile_path(row_path).find(_ANY.decode(payload))


def _first(path: JsonPath, row: Any) -> Any:
    found = path.find(row)
    return found[0] if found else None


def _convert(value: Any, data_type: str, settings: DatetimeSettings | None) -> Any:
    if value is None:
        return None
    if data_type == "number":
        return value if isinstance(value, int | float) and not isinstance(value, bool) else float(value)
    if data_type == "boolean":
        return value if isinstance(value, bool) else str(value).strip().lower() in ("true", "1", "yes")
    if data_type == "datetime":
        chosen = settings or DatetimeSettings()
        iso = parse_timestamp(value, chosen.input_type, chosen.input_timezone, chosen.input_format)
        return format_timestamp(iso, chosen.output_type, chosen.output_timezone, chosen.output_format)
    if data_type in ("array", "object"):
        return value
    return js_text(value)


def json_to_csv(payload: bytes, options: JsonToCsvOptions) -> tuple[bytes, int, str] | None:
    """One CSV row per element that ``rowIteratorPath`` selects, one column per field."""
    rows = _rows(payload, options.row_iterator_path)
    if not rows:
        return None
    paths = [compile_path(entry.json_path) for entry in options.fields]
    table: list[list[Any]] = [[entry.column_name for entry in options.fields]]
    for row in rows:
        table.append(
            [
                _convert(_first(path, row), entry.data_type, entry.datetime_settings)
                for path, entry in zip(paths, options.fields, strict=True)
            ]
        )
    text = _write_csv(table, DELIMITERS[options.delimiter], "\n", "", '"')
    return text.encode(), len(rows), filename_variables(options.filename)


def json_to_oianalytics(payload: bytes, options: JsonToOIAnalyticsOptions) -> tuple[bytes, int] | None:
    """One value per row that has a point, a value and a timestamp; other rows are skipped."""
    point, value_path, stamp = (compile_path(p) for p in (options.point_id, options.value, options.timestamp))
    settings = options.datetime_settings
    out: list[dict[str, Any]] = []
    for row in _rows(payload, options.row_iterator_path):
        point_id, value, raw_time = _first(point, row), _first(value_path, row), _first(stamp, row)
        if point_id is None or value is None or raw_time is None:
            continue
        iso = parse_timestamp(raw_time, settings.input_type, settings.input_timezone, settings.input_format)
        out.append(_oianalytics(js_text(point_id), truncate(iso, settings.output_precision), value))
    return (_encode(out), len(out)) if out else None


def _csv_rows(payload: bytes, delimiter: str, has_header: bool) -> list[dict[str, str]]:
    text = payload.decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text), delimiter=DELIMITERS[delimiter])
    lines = [line for line in reader if any(cell.strip() for cell in line)]
    if not lines:
        return []
    if has_header:
        header, body = lines[0], lines[1:]
    else:
        header, body = [str(index) for index in range(max(len(line) for line in lines))], lines
    return [dict(zip(header, line, strict=False)) for line in body]


def _number_or_text(text: str) -> Any:
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number


def csv_to_time_values(payload: bytes, options: CsvToTimeValuesOptions) -> tuple[bytes, int] | None:
    """One time-value per row that has a point id and a timestamp."""
    settings = options.timestamp_settings
    out: list[dict[str, Any]] = []
    for row in _csv_rows(payload, options.delimiter, options.has_header):
        point_id, raw_time = row.get(options.point_id_column), row.get(options.timestamp_column)
        if not point_id or not raw_time:
            continue
        timestamp = parse_timestamp(raw_time, settings.type, settings.timezone, settings.format)
        out.append(
            {
                "pointId": point_id,
                "timestamp": timestamp,
                "data": {"value": _number_or_text(row.get(options.value_column) or "")},
            }
        )
    return (_encode(out), len(out)) if out else None


def csv_to_mqtt(payload: bytes, options: CsvToMqttOptions) -> tuple[bytes, int] | None:
    """One message per row that has a topic; the payload is a value, or an object of the mapped columns."""
    out: list[dict[str, Any]] = []
    for row in _csv_rows(payload, options.delimiter, options.has_header):
        topic = row.get(options.topic_column)
        if not topic:
            continue
        message: Any
        if options.payload_type == "object":
            message = {
                entry.key: _convert(row.get(entry.column), entry.data_type, entry.datetime_settings)
                for entry in options.object_fields
            }
        else:
            message = _convert(row.get(options.value_column or ""), options.payload_type, options.datetime_settings)
        out.append({"topic": topic, "payload": message if isinstance(message, str) else js_text(message)})
    return (_encode(out), len(out)) if out else None
