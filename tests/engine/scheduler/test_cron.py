"""Six-field cron with seconds: validation, next executions, readable form."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.scheduler import cron
from engine.scheduler.timing import Timing
from engine.scheduler.verify import verify_timing


@pytest.mark.parametrize(
    "expression",
    ["* * * * * *", "*/10 * * * * *", "0 */10 * * * *", "0 0 0 * JUL MON-FRI", "0 30 8 1,15 * *", " 0  0 * * * * "],
)
def test_valid(expression: str) -> None:
    cron.validate(expression)


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("", "Empty"),
        ("* * * * *", "got 5"),
        ("* * * * * * 2030", "got 7"),
        ("0 0 0 L * *", "'L'"),
        ("0 0 0 1W * *", "'W'"),
        ("0 0 0 * * 1#2", "'#'"),
        ("0 0 0 ? * *", "'?'"),
        ("H * * * * *", "'H'"),
        ("61 * * * * *", "Invalid cron"),
        ("a b c d e f", "Invalid cron"),
    ],
)
def test_invalid(expression: str, fragment: str) -> None:
    with pytest.raises(cron.InvalidCron, match=fragment):
        cron.validate(expression)


def test_verify_gives_three_next_runs_in_utc() -> None:
    check = verify_timing(Timing(cron="*/10 * * * * *"), now=datetime(2026, 1, 1, 12, 0, 3, tzinfo=UTC))
    assert check.is_valid and check.error_message == ""
    assert check.next_executions == ["2026-01-01T12:00:10.000Z", "2026-01-01T12:00:20.000Z", "2026-01-01T12:00:30.000Z"]
    assert check.human_readable_form == "every 10 seconds"
    assert check.to_dto()["isValid"] is True


def test_verify_invalid() -> None:
    check = verify_timing(Timing(cron="0 0 L * * *"))
    assert not check.is_valid
    assert check.to_dto() == {
        "isValid": False,
        "errorMessage": check.error_message,
        "nextExecutions": [],
        "humanReadableForm": "",
    }


@pytest.mark.parametrize(
    ("expression", "text"),
    [
        ("* * * * * *", "every second"),
        ("*/10 * * * * *", "every 10 seconds"),
        ("0 * * * * *", "every minute"),
        ("0 */10 * * * *", "every 10 minutes"),
        ("0 0 * * * *", "every hour"),
        ("0 0 */6 * * *", "every 6 hours"),
        ("0 0 0 * * *", "every day at 00:00:00"),
        ("5 30 8 * * *", "every day at 08:30:05"),
        ("0 0 0 * * MON", "0 0 0 * * MON"),
    ],
)
def test_describe(expression: str, text: str) -> None:
    assert cron.describe(expression) == text


def test_module_is_import_light() -> None:
    code = "import sys, engine.scheduler.cron; print('croniter' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("expression", "field"),
    [
        ("61 * * * * *", "second"),
        ("0 0 25 * * *", "hour"),
        ("* * * 32 * *", "day-of-month"),
        ("* * * * * 9", "day-of-week"),
    ],
)
def test_an_invalid_cron_names_its_field(expression: str, field: str) -> None:
    with pytest.raises(cron.InvalidCron, match=f"the {field} field"):
        cron.validate(expression)


@settings(max_examples=500, deadline=None)
@given(st.from_regex(cron.SCHEMA_PATTERN))
def test_every_expression_the_openapi_pattern_states_is_valid(expression: str) -> None:
    # The document's pattern is what a client builds a cron from: each one it matches must be accepted.
    cron.validate(expression)
