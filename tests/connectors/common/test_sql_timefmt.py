"""The CSV output's fast date-time writer against ``astimezone`` + ``isoformat`` across zones and transitions."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from connectors.common.sql.output import instant_writer
from connectors.common.sql.timefmt import zone

ZONES = [
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "America/St_Johns",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Pacific/Apia",
]
FORMATS = {
    "yyyy-MM-dd HH:mm:ss.SSS": (" ", "milliseconds"),
    "yyyy-MM-dd'T'HH:mm:ss.SSS": ("T", "milliseconds"),
    "yyyy-MM-dd HH:mm:ss": (" ", "seconds"),
    "yyyy-MM-dd'T'HH:mm:ss": ("T", "seconds"),
}


def reference(instant: datetime, name: str, separator: str, spec: str) -> str:
    return instant.astimezone(zone(name)).replace(tzinfo=None).isoformat(separator, spec)


@pytest.mark.parametrize("name", ZONES)
@pytest.mark.parametrize("luxon", list(FORMATS))
def test_every_instant_is_written_as_astimezone_would(name: str, luxon: str) -> None:
    separator, spec = FORMATS[luxon]
    write = instant_writer(luxon, zone(name))
    rng = random.Random(f"{name}{luxon}")
    instants: list[datetime] = []
    # Dense runs across the hours of a year and a half that hold transitions, then random jumps over two centuries.
    start = datetime(2023, 1, 1, tzinfo=UTC)
    instants += [start + timedelta(minutes=23 * i, microseconds=rng.randrange(10**6)) for i in range(25_000)]
    instants += [
        datetime(1900, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(200 * 365 * 86400), microseconds=999_999)
        for _ in range(2_000)
    ]
    instants += [datetime(9999, 12, 30, 10, 59, tzinfo=UTC), datetime(1, 1, 2, tzinfo=UTC)]
    wrong = [(i, write(i)) for i in instants if write(i) != reference(i, name, separator, spec)]
    assert not wrong, wrong[:5]


def test_an_instant_in_another_offset_is_converted_first() -> None:
    write = instant_writer("yyyy-MM-dd HH:mm:ss.SSS", zone("Europe/Paris"))
    tokyo = datetime(2024, 7, 1, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=9)))
    assert write(tokyo) == "2024-07-01 02:30:15.123"
