"""Log records: upstream's levels, the record every sink receives, and how fields become human text.

A log call hands over ``(time_ns, level, event, fields)``; the dispatcher thread turns that into one
``LogRecord``: scope fields pulled out, secrets redacted, the remaining fields rendered into the message
(``event key=value key2="two words"``), the traceback (if any) on the following lines.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, NamedTuple

import msgspec

# Numbers follow the stdlib/structlog scale (trace below debug); names follow upstream (pino).
TRACE = 5
DEBUG = 10
INFO = 20
WARN = 30
ERROR = 40
FATAL = 50
SILENT = 100
"""A threshold no record reaches."""

LEVEL_NAMES: dict[int, str] = {
    TRACE: "trace",
    DEBUG: "debug",
    INFO: "info",
    WARN: "warn",
    ERROR: "error",
    FATAL: "fatal",
}
"""Level number → the name stored in ``logs.db`` and shown by the API."""

_LEVELS_BY_NAME = {
    "trace": TRACE,
    "debug": DEBUG,
    "info": INFO,
    "warn": WARN,
    "warning": WARN,
    "error": ERROR,
    "err": ERROR,
    "exception": ERROR,
    "critical": FATAL,
    "fatal": FATAL,
    "silent": SILENT,
}

LOG_LEVELS = ("trace", "debug", "info", "warn", "error", "fatal")
"""Levels a record can have (API filter values)."""

SCOPE_TYPES = ("south", "north", "history-query", "internal")
"""Upstream's scope types; records without one are ``internal``."""

SECRET_MARK = "***"
_SECRET_WORDS = ("password", "secret", "token", "passphrase", "authorization", "apikey", "api_key")
_MAX_VALUE_CHARS = 4096
_MAX_DEPTH = 6
PLAIN_TYPES = frozenset({str, int, float, bool, type(None)})
_QUOTED = frozenset(" \"'=\\")


def level_number(name: str | int, default: int = INFO) -> int:
    """Return the number of a level name (upstream or structlog spelling); numbers pass through."""
    if isinstance(name, int):
        return name
    return _LEVELS_BY_NAME.get(name.lower(), default)


def level_name(level: int) -> str:
    """Return upstream's name for a level number (rounded down to the nearest named level)."""
    name = LEVEL_NAMES.get(level)
    if name is not None:
        return name
    lower = [number for number in LEVEL_NAMES if number <= level]
    return LEVEL_NAMES[max(lower)] if lower else "trace"


_secret_keys: dict[str, bool] = {}


def is_secret(key: str) -> bool:
    """Whether a field named ``key`` holds a secret (its value is never logged)."""
    known = _secret_keys.get(key)
    if known is None:
        lowered = key.lower()
        known = any(word in lowered for word in _SECRET_WORDS)
        if len(_secret_keys) < 10_000:  # Field names are few; a pathological caller must not grow this forever.
            _secret_keys[key] = known
    return known


def snapshot(value: Any, depth: int = 0) -> Any:
    """Freeze a non-plain field value at call time: containers copied with secrets redacted, objects as text.

    Runs in the caller's thread, because the value may change (or be a live object) by the time the
    dispatcher renders it. Plain values (str, int, float, bool, None) never reach this function.
    """
    if type(value) in PLAIN_TYPES:
        return value
    if depth >= _MAX_DEPTH:
        return _clip(str(value))
    if isinstance(value, Mapping):
        return {
            str(key): SECRET_MARK if is_secret(str(key)) else snapshot(item, depth + 1) for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [snapshot(item, depth + 1) for item in value]
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):  # A str subclass (StrEnum): keep its value.
        return _clip(str.__str__(value))
    return _clip(str(value))


def _clip(text: str) -> str:
    if len(text) <= _MAX_VALUE_CHARS:
        return text
    return f"{text[:_MAX_VALUE_CHARS]}...(+{len(text) - _MAX_VALUE_CHARS} chars)"


def render_value(value: Any) -> str:
    """Render one field value for humans: bare tokens as they are, anything else JSON-quoted."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        if value and value.isprintable() and _QUOTED.isdisjoint(value):
            return value
        return msgspec.json.encode(_clip(value)).decode()
    if isinstance(value, int | float):
        return repr(value)
    try:
        return msgspec.json.encode(value).decode()
    except (TypeError, ValueError, OverflowError):
        return msgspec.json.encode(str(value)).decode()


def render_fields(fields: Mapping[str, Any]) -> str:
    """Render ``fields`` as `` key=value`` pairs (leading space included; empty for no fields)."""
    return "".join(f" {key}={render_value(value)}" for key, value in fields.items())


_last_second: tuple[int, str] = (-1, "")


def iso_ms(time_ns: int) -> str:
    """Format epoch nanoseconds as ISO-8601 UTC with milliseconds (``2026-01-01T00:00:00.000Z``)."""
    global _last_second
    seconds, rest = divmod(time_ns, 1_000_000_000)
    cached_seconds, prefix = _last_second
    if seconds != cached_seconds:
        # Logs come in bursts within one second: format the date part once per second. One tuple, so a
        # reader in another thread never pairs a second with another second's text.
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _last_second = (seconds, prefix)
    return f"{prefix}.{rest // 1_000_000:03d}Z"


class LogRecord(NamedTuple):
    """One log record as every sink receives it (the ``logs`` row and the API's log DTO)."""

    time_ns: int
    """Epoch nanoseconds (Loki's timestamp)."""
    level: int
    timestamp: str
    """ISO-8601 UTC with milliseconds."""
    scope_type: str
    scope_id: str | None
    scope_name: str | None
    message: str
    """The event, its remaining fields rendered as ``key=value``, then the traceback if any."""
    item_id: str | None = None
    item_name: str | None = None
    group_id: str | None = None
    group_name: str | None = None

    @property
    def level_name(self) -> str:
        """Upstream's level name (``warn``, not ``warning``)."""
        return level_name(self.level)

    @property
    def text(self) -> str:
        """The message with the item and group it concerns, for line-oriented sinks (console, syslog, Loki)."""
        if self.item_id is None and self.item_name is None and self.group_id is None and self.group_name is None:
            return self.message
        context = {
            key: value
            for key, value in (
                ("itemName", self.item_name),
                ("itemId", self.item_id),
                ("groupName", self.group_name),
                ("groupId", self.group_id),
            )
            if value is not None
        }
        head, newline, trace = self.message.partition("\n")
        return f"{head}{render_fields(context)}{newline}{trace}"

    def to_dto(self) -> dict[str, Any]:
        """The API's log DTO (also the line written to ``journal.log``)."""
        return {
            "timestamp": self.timestamp,
            "level": level_name(self.level),
            "scopeType": self.scope_type,
            "scopeId": self.scope_id,
            "scopeName": self.scope_name,
            "message": self.message,
            "itemId": self.item_id,
            "itemName": self.item_name,
            "groupId": self.group_id,
            "groupName": self.group_name,
        }


def console_line(record: LogRecord) -> str:
    """``<timestamp> <level> <scopeType>[:<scopeName>] <message>`` (plus any traceback), newline-terminated."""
    scope = record.scope_type if record.scope_name is None else f"{record.scope_type}:{record.scope_name}"
    return f"{record.timestamp} {record.level_name:<5} {scope} {record.text}\n"


# Fields that become record columns (slot in build_record), and the traceback.
_COLUMN_SLOTS = {
    "scopeType": 0,
    "scope_type": 0,
    "scopeId": 1,
    "scope_id": 1,
    "scopeName": 2,
    "scope_name": 2,
    "itemId": 3,
    "item_id": 3,
    "itemName": 4,
    "item_name": 4,
    "groupId": 5,
    "group_id": 5,
    "groupName": 6,
    "group_name": 6,
    "exception": 7,
}


def build_record(time_ns: int, level: int, event: str, fields: dict[str, Any]) -> LogRecord:
    """Turn one log call into a record: column fields taken out, secrets redacted, the rest rendered."""
    columns: list[Any] = [None] * 8
    parts = [event]
    for key, value in fields.items():
        slot = _COLUMN_SLOTS.get(key)
        if slot is not None:
            if value is not None and value != "":
                columns[slot] = value if type(value) is str else str(value)
        else:
            parts.append(f" {key}={SECRET_MARK if is_secret(key) else render_value(value)}")
    message = "".join(parts) if len(parts) > 1 else event
    if columns[7]:
        message = f"{message}\n{columns[7].rstrip()}"
    scope_type = columns[0] or "internal"
    if scope_type == "history":
        scope_type = "history-query"
    return LogRecord(
        time_ns,
        level,
        iso_ms(time_ns),
        scope_type,
        columns[1],
        columns[2],
        message,
        columns[3],
        columns[4],
        columns[5],
        columns[6],
    )
