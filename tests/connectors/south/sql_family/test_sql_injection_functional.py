"""Acceptance 2 of issue 17 for every SQL South here: ``'; DROP TABLE x; --`` is only ever text.

Against the machine's PostgreSQL (both its COPY and row paths), MariaDB, a SQLite file and psqlODBC, the
string sits in the item's query (a literal the rows are compared with), in a date-time field (its name, the
alias of the reference column, which the PostgreSQL COPY plan writes into its own SQL; and its format, as
quoted literal text). Every row of the window is delivered, the field's value is formatted, the table
``x`` is still there and the source table is unchanged.
"""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sql_harness import Harness, csv_rows, item
from sql_servers import mariadb_database, mysql_cli, postgres_database, psql

from connectors.common.sql.south import SqlSouth

EVIL = "'; DROP TABLE x; --"
ROWS = 50
BASE = datetime(2024, 3, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Source:
    """A South on a table ``data (id, ts, label)`` of ``ROWS`` rows, one a second from ``BASE``."""

    south: type[SqlSouth[Any]]
    settings: msgspec.Struct
    field_type: str
    quote: str
    count: Any
    """``count(table)``: the rows of a table, as text (raises when the table is gone)."""


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@contextmanager
def source(kind: str, folder: Path) -> Iterator[Source]:
    values = ", ".join(f"({i}, '2024-03-01 00:00:{i:02d}', 'r{i}')" for i in range(ROWS))
    if kind in ("postgresql", "postgresql-rows", "odbc"):
        if kind == "odbc":
            listed = subprocess.run(["odbcinst", "-q", "-d"], capture_output=True, text=True, timeout=10).stdout
            if "[PostgreSQL Unicode]" not in listed:
                pytest.skip("ODBC driver 'PostgreSQL Unicode' missing (apt-get install odbc-postgresql)")
        column = "timestamp" if kind == "odbc" else "timestamptz"
        with postgres_database() as database:
            psql(database, f"CREATE TABLE data (id int, ts {column}, label text); CREATE TABLE x (keep int);"
                           f"SET TIME ZONE 'UTC'; INSERT INTO data VALUES {values}")  # fmt: skip
            count = lambda table: psql(database, f"SELECT count(*) FROM {table}")  # noqa: E731
            if kind == "odbc":
                from connectors.south.odbc import OdbcSouth
                from connectors.south.odbc.manifest import OdbcSettings

                text = f"Driver={{PostgreSQL Unicode}};Server=127.0.0.1;Port=5432;Database={database};Uid=postgres"
                yield Source(OdbcSouth, OdbcSettings(connection_string=text), "timestamp", '"', count)
            else:
                from connectors.south.postgresql import PostgresqlSouth
                from connectors.south.postgresql.manifest import PostgresqlSettings

                settings = PostgresqlSettings(host="127.0.0.1", database=database, username="postgres")
                # The COPY plan writes only ISO output formats; another format takes the row path.
                yield Source(PostgresqlSouth, settings, "timestamptz", '"', count)
    elif kind == "mysql":
        from connectors.south.mysql import MysqlSouth
        from connectors.south.mysql.manifest import MysqlSettings

        with mariadb_database() as database:
            mysql_cli(database, "CREATE TABLE data (id INT, ts DATETIME(3), label TEXT); CREATE TABLE x (keep INT);"
                                f"INSERT INTO data VALUES {values}")  # fmt: skip
            count = lambda table: mysql_cli(database, f"SELECT count(*) FROM {table}")  # noqa: E731
            mysql = MysqlSettings(host="127.0.0.1", database=database, username="root")
            yield Source(MysqlSouth, mysql, "date-time", "`", count)
    else:
        from connectors.south.sqlite import SqliteSouth
        from connectors.south.sqlite.manifest import SqliteSettings

        path = folder / "plant.db"
        with sqlite3.connect(path) as db:
            db.executescript("CREATE TABLE data (id INTEGER, ts TEXT, label TEXT); CREATE TABLE x (keep INTEGER);"
                             f"INSERT INTO data VALUES {values}")  # fmt: skip
        db.close()

        def count(table: str) -> str:
            with sqlite3.connect(path) as db:
                found = str(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
            db.close()
            return found

        yield Source(SqliteSouth, SqliteSettings(database_path=str(path)), "iso-string", '"', count)


@pytest.mark.parametrize("kind", ["postgresql", "postgresql-rows", "mysql", "sqlite", "odbc"])
async def test_the_injection_string_in_the_query_and_a_date_time_field_is_only_text(tmp_path: Path, kind: str) -> None:
    with source(kind, tmp_path) as src:
        alias = f"{src.quote}{EVIL}{src.quote}"
        query = (
            f"SELECT id, ts AS {alias}, label FROM data WHERE ts > @StartTime AND ts <= @EndTime "
            f"AND label <> {_sql_literal(EVIL)} ORDER BY id"
        )
        # The row path's format keeps literal text; the COPY path needs an ISO format (else: row path).
        output = "yyyy-MM-dd HH:mm:ss" if kind == "postgresql" else f"yyyy-MM-dd HH:mm:ss'{EVIL.replace(chr(39), '')}'"
        field = {"fieldName": EVIL, "useAsReference": True, "type": src.field_type, "timezone": "UTC"}
        if src.field_type in ("iso-string",):
            field["format"] = "yyyy-MM-dd HH:mm:ss"
        the_item = item(
            query, dateTimeFields=[field], serialization={"outputTimezone": "UTC", "outputTimestampFormat": output}
        )
        harness = Harness(src.south, src.settings, tmp_path)
        try:
            newest = await harness.south.history_query(
                [the_item], BASE - timedelta(seconds=1), BASE + timedelta(seconds=ROWS)
            )
            rows = csv_rows(harness.sink)
        finally:
            harness.close()
        assert [int(row[0]) for row in rows] == list(range(ROWS))
        assert rows[1][1].startswith("2024-03-01 00:00:01"), rows[1]
        assert newest == BASE + timedelta(seconds=ROWS - 1)
        assert src.count("x") == "0", "table x is still there"
        assert src.count("data") == str(ROWS)
