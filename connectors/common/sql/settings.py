"""Item settings shared by the SQL family: the query, its date-time fields, and the CSV serialization."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from connectors.common.sql.timefmt import compile_format, zone

__all__ = [
    "DELIMITERS",
    "ConnectionTimeout",
    "DateTimeField",
    "DateTimeType",
    "Delimiter",
    "RequestTimeout",
    "SqlItemSettings",
    "SqlSerialization",
]

DateTimeType = Literal[
    "string",
    "iso-string",
    "unix-epoch",
    "unix-epoch-ms",
    "timestamp",
    "timestamptz",
    "date",
    "date-time",
    "date-time-2",
    "date-time-offset",
    "small-date-time",
]
"""How a column holds an instant (upstream's names; the native types are the driver's date-time values)."""

Delimiter = Literal["DOT", "SEMI_COLON", "COLON", "COMMA", "NON_BREAKING_SPACE", "SLASH", "TAB", "PIPE"]

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

ConnectionTimeout = Annotated[
    int,
    msgspec.Meta(
        ge=100, le=30_000, title="Connection timeout", description="Time to open a connection.", extra={"unit": "ms"}
    ),
]
RequestTimeout = Annotated[
    int,
    msgspec.Meta(
        ge=100, le=3_600_000, title="Request timeout", description="Time a query may take.", extra={"unit": "ms"}
    ),
]


def _check_zone(field: str, name: str) -> None:
    try:
        zone(name)
    except ValueError as err:
        raise ValueError(f"{field}: {err}") from err


def _check_format(field: str, luxon: str) -> None:
    try:
        compile_format(luxon)
    except ValueError as err:
        raise ValueError(f"{field}: {err}") from err


class DateTimeField(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """A column that holds an instant: how to read it, and whether it advances the tracked instant."""

    field_name: Annotated[str, msgspec.Meta(min_length=1, title="Field name", description="Column name.")]
    use_as_reference: Annotated[
        bool,
        msgspec.Meta(
            title="Reference field",
            description="Its newest value becomes the tracked instant, and @StartTime/@EndTime take its type.",
        ),
    ] = False
    type: Annotated[DateTimeType, msgspec.Meta(title="Type", description="How the column holds the instant.")] = (
        "string"
    )
    timezone: Annotated[
        str, msgspec.Meta(title="Timezone", description="IANA zone of a value that carries no offset.")
    ] = "UTC"
    format: Annotated[str, msgspec.Meta(title="Format", description="Luxon-style format of a `string` value.")] = (
        "yyyy-MM-dd HH:mm:ss"
    )
    locale: Annotated[str, msgspec.Meta(title="Locale", description="Accepted for compatibility; unused.")] = "en-En"

    def __post_init__(self) -> None:
        _check_zone("timezone", self.timezone)
        if self.type == "string":
            _check_format("format", self.format)


class SqlSerialization(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """How each query's rows are written: one CSV file per read interval."""

    type: Annotated[Literal["csv"], msgspec.Meta(title="Type", description="Output format.")] = "csv"
    filename: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            title="Filename",
            description="Variables: @ConnectorName, @ItemName, @CurrentDate, @QueryStartTime, @QueryEndTime.",
        ),
    ] = "@ConnectorName-@ItemName-@CurrentDate.csv"
    delimiter: Annotated[Delimiter, msgspec.Meta(title="Delimiter", description="CSV field separator.")] = "COMMA"
    compression: Annotated[bool, msgspec.Meta(title="Compression", description="Gzip the file (`.gz`).")] = False
    output_timestamp_format: Annotated[
        str, msgspec.Meta(title="Output date time format", description="Luxon-style format of date-time fields.")
    ] = "yyyy-MM-dd HH:mm:ss.SSS"
    output_timezone: Annotated[
        str, msgspec.Meta(title="Output timezone", description="IANA zone date-time fields are written in.")
    ] = "Europe/Paris"

    def __post_init__(self) -> None:
        _check_format("outputTimestampFormat", self.output_timestamp_format)
        _check_zone("outputTimezone", self.output_timezone)


class SqlItemSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """One query, read over each history interval."""

    query: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            title="Query",
            description="SQL; @StartTime and @EndTime are bound as driver parameters, never pasted into the text.",
        ),
    ]
    date_time_fields: Annotated[
        list[DateTimeField], msgspec.Meta(title="Date time fields", description="Columns that hold instants.")
    ] = msgspec.field(default_factory=list)
    serialization: Annotated[
        SqlSerialization, msgspec.Meta(title="Serialization", description="How the rows are written.")
    ] = msgspec.field(default_factory=SqlSerialization)

    def __post_init__(self) -> None:
        references = [field.field_name for field in self.date_time_fields if field.use_as_reference]
        if len(references) > 1:
            raise ValueError(f"dateTimeFields: only one reference field is allowed, got {references}")
