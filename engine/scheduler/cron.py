"""Scan-mode cron expressions: six fields with seconds first, validation, next runs, readable form."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

# croniter (and dateutil behind it) is imported lazily: the API process needs it only when a cron is
# checked, and the import rules keep scheduler modules cheap to import.

FIELD_NAMES = ("second", "minute", "hour", "day-of-month", "month", "day-of-week")
_FIELD_RANGES = ("0-59", "0-59", "0-23", "1-31", "1-12 or JAN-DEC", "0-7 or SUN-SAT")

# Upstream refuses these Quartz/Jenkins extensions; croniter would accept some of them with a meaning the
# upstream scheduler never had, so a cron that works here would fail after a move back.
_FORBIDDEN = re.compile(r"[LW#?H]", re.IGNORECASE)
_MONTH_NAMES = re.compile(r"JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC", re.IGNORECASE)
_DAY_NAMES = re.compile(r"SUN|MON|TUE|WED|THU|FRI|SAT", re.IGNORECASE)
_STEP = re.compile(r"^\*/(\d+)$")
_NUMBER = re.compile(r"^\d+$")


def _listed(number: str) -> str:
    element = rf"(?:\*(?:/[1-9])?|{number})"
    return rf"{element}(?:,{element})*"


# What the OpenAPI document states a cron looks like: numbers, ``*`` and ``*/step`` lists in each field's
# range, days of the month up to 28 so that every month has them. Every expression it matches passes
# ``validate``; the validation accepts more (ranges, names), which a JSON Schema pattern cannot say whole.
SCHEMA_PATTERN = (
    "^"
    + " ".join(
        _listed(number)
        for number in (
            r"[1-5]?[0-9]",
            r"[1-5]?[0-9]",
            r"1?[0-9]|2[0-3]",
            r"[1-9]|1[0-9]|2[0-8]",
            r"[1-9]|1[0-2]",
            "[0-7]",
        )
    )
    + r"$(?!\n)"
)


class InvalidCron(ValueError):
    """The expression is not a cron OIBus can schedule; the message says why."""


@dataclass(frozen=True, slots=True)
class CronCheck:
    """Answer of ``POST /api/scan-modes/verify`` (``to_dto`` gives the camelCase wire form)."""

    is_valid: bool
    error_message: str = ""
    next_executions: list[str] = field(default_factory=list)
    human_readable_form: str = ""

    def to_dto(self) -> dict[str, object]:
        """Return the wire form: ``{isValid, errorMessage, nextExecutions, humanReadableForm}``."""
        return {
            "isValid": self.is_valid,
            "errorMessage": self.error_message,
            "nextExecutions": list(self.next_executions),
            "humanReadableForm": self.human_readable_form,
        }


def errors(expression: str) -> dict[str, str]:
    """``{"cron": why}`` when ``expression`` cannot be scheduled; empty when it can."""
    try:
        validate(expression)
    except InvalidCron as err:
        return {"cron": str(err)}
    return {}


def validate(expression: str) -> None:
    """Raise ``InvalidCron`` unless ``expression`` is a valid six-field cron with seconds first."""
    fields = expression.split()
    if not fields:
        raise InvalidCron("Empty cron expression")
    if len(fields) != len(FIELD_NAMES):
        raise InvalidCron(f"Expected 6 fields (second minute hour day-of-month month day-of-week), got {len(fields)}")
    for index, value in enumerate(fields):
        checked = value
        if index == 4:
            checked = _MONTH_NAMES.sub("", checked)
        elif index == 5:
            checked = _DAY_NAMES.sub("", checked)
        forbidden = _FORBIDDEN.search(checked)
        if forbidden:
            raise InvalidCron(
                f"Character {forbidden.group(0)!r} is not supported (field {FIELD_NAMES[index]}: {value!r})"
            )
    from croniter import croniter

    if not croniter.is_valid(" ".join(fields), second_at_beginning=True):
        for index, value in enumerate(fields):
            # Each field alone among wildcards: the first that fails is the one to name.
            alone = ["*"] * len(FIELD_NAMES)
            alone[index] = value
            if not croniter.is_valid(" ".join(alone), second_at_beginning=True):
                raise InvalidCron(
                    f"Invalid cron expression {expression!r}: the {FIELD_NAMES[index]} field {value!r} is "
                    f"wrong (allowed: {_FIELD_RANGES[index]})"
                )
        raise InvalidCron(f"Invalid cron expression {expression!r}")
    try:
        croniter(" ".join(fields), datetime.now(UTC), second_at_beginning=True).get_next(datetime)
    except ValueError as err:
        # Parses, but names no date that exists (``0 0 0 31 2 *``): it would never fire.
        raise InvalidCron(f"Cron expression {expression!r} never fires") from err


def describe(expression: str) -> str:
    """Return a short English description for common patterns; the expression itself otherwise."""
    fields = expression.split()
    if len(fields) != len(FIELD_NAMES):
        return expression
    second, minute, hour, dom, month, dow = fields
    every_day = dom == "*" and month == "*" and dow == "*"
    if not every_day:
        return expression
    if (minute, hour) == ("*", "*"):
        if second == "*":
            return "every second"
        if step := _STEP.match(second):
            return _every(int(step.group(1)), "second")
        if _NUMBER.match(second):
            return "every minute" if int(second) == 0 else f"every minute at second {int(second)}"
    if second == "0" and hour == "*":
        if minute == "*":
            return "every minute"
        if step := _STEP.match(minute):
            return _every(int(step.group(1)), "minute")
        if _NUMBER.match(minute):
            return "every hour" if int(minute) == 0 else f"every hour at minute {int(minute)}"
    if second == "0" and minute == "0":
        if hour == "*":
            return "every hour"
        if step := _STEP.match(hour):
            return _every(int(step.group(1)), "hour")
    if _NUMBER.match(second) and _NUMBER.match(minute) and _NUMBER.match(hour):
        return f"every day at {int(hour):02d}:{int(minute):02d}:{int(second):02d}"
    return expression


def _every(step: int, unit: str) -> str:
    return f"every {unit}" if step == 1 else f"every {step} {unit}s"


def iso_utc(instant: datetime) -> str:
    """``instant`` as UTC ISO-8601 with milliseconds and ``Z``, as the API shows runs."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"
