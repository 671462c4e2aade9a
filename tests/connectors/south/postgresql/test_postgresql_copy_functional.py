"""PostgreSQL's ``COPY`` path writes the very file the row path writes, and steps aside when it cannot.

Each case reads the same window twice from the machine's PostgreSQL: once as the South does (``COPY``,
when ``connectors.south.postgresql.copy.copy_plan`` allows it) and once with ``COPY`` refused (the row
path: asyncpg rows through ``CsvRowWriter``); the two files must be byte for byte the same, and the
tracked instant the same.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sql_harness import Harness, item
from sql_servers import postgres_database, psql

from connectors.common.sql.south import SqlClient
from connectors.south.postgresql import PostgresqlSouth
from connectors.south.postgresql.client import PostgresqlClient
from connectors.south.postgresql.manifest import PostgresqlSettings

BASE = datetime(2025, 3, 29, 22, 0, tzinfo=UTC)  # the window spans Europe/Paris's change to summer time
END = BASE + timedelta(hours=6)
QUERY = "SELECT id, ts, label, code FROM data WHERE ts > @StartTime AND ts <= @EndTime ORDER BY id"
TS = {"fieldName": "ts", "useAsReference": True, "type": "timestamptz"}
LABELS = ["plain", "a,comma", 'a "quote"', "two\nlines", "", None, "semi;colon", "tab\there", "'; DROP TABLE x; --"]


class RowsOnly(PostgresqlClient):
    """The client with ``COPY`` refused: the row path."""

    async def copy_csv(self, *args: Any) -> None:
        return None


class RowPathSouth(PostgresqlSouth):
    def client(self) -> SqlClient:
        return RowsOnly(self.settings)


class CountingClient(PostgresqlClient):
    """Counts the reads ``COPY`` wrote."""

    copies = 0

    async def copy_csv(self, *args: Any) -> Any:
        done = await super().copy_csv(*args)
        CountingClient.copies += done is not None
        return done


class CountingSouth(PostgresqlSouth):
    def client(self) -> SqlClient:
        return CountingClient(self.settings)


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with postgres_database() as name:
        labels = ", ".join("NULL" if label is None else "'" + label.replace("'", "''") + "'" for label in LABELS)
        psql(
            name,
            "CREATE TABLE data (id int PRIMARY KEY, ts timestamptz, label text, code varchar(8), ratio float8);"
            "CREATE TABLE x (keep int);"
            f"INSERT INTO data SELECT i, '{BASE.isoformat()}'::timestamptz + i * interval '1.234567 s', "
            f"(ARRAY[{labels}]::text[])[1 + i % {len(LABELS)}], CASE WHEN i % 7 = 0 THEN NULL ELSE 'c' || i END, "
            "i / 4.0 FROM generate_series(1, 12000) AS i;"
            "INSERT INTO data VALUES (0, NULL, 'no instant', 'c0', 0)",
        )
        yield name


def settings(database: str) -> PostgresqlSettings:
    return PostgresqlSettings(host="127.0.0.1", database=database, username="postgres")


async def read(cls: type[PostgresqlSouth], database: str, folder: Path, query: str, **out: Any) -> tuple[bytes, Any]:
    harness = Harness(cls, settings(database), folder)
    try:
        the_item = item(query, dateTimeFields=[TS], serialization=out)
        newest = await harness.south.history_query([the_item], BASE, END)
        (recorded,) = harness.sink.files
        data = gzip.decompress(recorded.data) if recorded.filename.endswith(".gz") else recorded.data
        return data, newest
    finally:
        harness.close()


SERIALIZATIONS = [
    {"outputTimezone": "UTC"},
    {"outputTimezone": "Europe/Paris", "delimiter": "SEMI_COLON", "outputTimestampFormat": "yyyy-MM-dd'T'HH:mm:ss"},
    {"outputTimezone": "America/New_York", "delimiter": "TAB", "compression": True},
    {"outputTimezone": "Asia/Kolkata", "delimiter": "PIPE", "outputTimestampFormat": "yyyy-MM-dd HH:mm:ss"},
]


@pytest.mark.parametrize("out", SERIALIZATIONS, ids=lambda out: out["outputTimezone"])
async def test_copy_writes_the_file_the_row_path_writes(database: str, tmp_path: Path, out: dict[str, Any]) -> None:
    CountingClient.copies = 0
    copied, newest = await read(CountingSouth, database, tmp_path / "copy", QUERY, **out)
    assert CountingClient.copies == 1
    rows, row_newest = await read(RowPathSouth, database, tmp_path / "rows", QUERY, **out)
    assert copied == rows
    assert newest == row_newest == BASE + timedelta(seconds=12000 * 1.234567)
    assert copied.count(b"\n") > 12000  # the rows are there (plus the header and the two-line labels)


@pytest.mark.parametrize(
    ("query", "out"),
    [
        ("SELECT id, ts, ratio FROM data WHERE ts > @StartTime AND ts <= @EndTime", {}),  # float8: 5 vs 5.0
        ("SELECT ts FROM data WHERE ts > @StartTime AND ts <= @EndTime", {}),  # a lone column
        (QUERY, {"outputTimestampFormat": "dd/MM/yyyy HH:mm"}),  # not an ISO shape
        (QUERY, {"delimiter": "NON_BREAKING_SPACE"}),  # two bytes in UTF-8
    ],
)
async def test_what_copy_cannot_write_identically_takes_the_row_path(
    database: str, tmp_path: Path, query: str, out: dict[str, Any]
) -> None:
    CountingClient.copies = 0
    copied, newest = await read(CountingSouth, database, tmp_path / "copy", query, **out)
    assert CountingClient.copies == 0
    rows, row_newest = await read(RowPathSouth, database, tmp_path / "rows", query, **out)
    assert (copied, newest) == (rows, row_newest)


async def test_injection_text_in_the_query_stays_a_literal(database: str, tmp_path: Path) -> None:
    query = QUERY.replace("ORDER BY id", "AND label <> '''; DROP TABLE x; --' ORDER BY id")
    CountingClient.copies = 0
    copied, _ = await read(CountingSouth, database, tmp_path / "copy", query)
    assert CountingClient.copies == 1
    assert b"DROP TABLE" not in copied and copied.count(b"plain") > 100
    assert psql(database, "SELECT count(*) FROM x") == "0"  # the table is still there


async def test_request_timeout_bounds_each_wait_of_a_copy_not_the_whole_window(database: str, tmp_path: Path) -> None:
    # About 3 s of rows (1 ms of server sleep each, no ORDER BY: they stream as the scan finds them) under a
    # 1 s requestTimeout: each wait for data is short, so the window is read whole, as the row path reads it.
    slow = "SELECT id, ts, label, code FROM data WHERE ts > @StartTime AND ts <= @EndTime AND id <= 3000 "
    slow += "AND pg_sleep(0.001)::text = ''"
    harness = Harness(CountingSouth, msgspec.structs.replace(settings(database), request_timeout=1000), tmp_path)
    try:
        CountingClient.copies = 0
        newest = await harness.south.history_query([item(slow, dateTimeFields=[TS], serialization={})], BASE, END)
        assert CountingClient.copies == 1
        (recorded,) = harness.sink.files
        assert recorded.data.count(b"\n") >= 3000
        assert newest == BASE + timedelta(seconds=3000 * 1.234567)
    finally:
        harness.close()
