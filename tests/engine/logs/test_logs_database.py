"""``logs.db``: schema, WAL, upstream's purge rule, the sink's live maximum, and deleting a scope's logs."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from engine.config.models import LoggerSettings
from engine.logs import LogPipeline, LogStore
from engine.logs.database import connect, purge


def settings(database: dict[str, Any]) -> LoggerSettings:
    return msgspec.convert(
        {"console": {"level": "silent"}, "file": {"level": "silent"}, "database": database}, LoggerSettings
    )


@pytest.fixture(name="pipeline")
def pipeline_fixture(tmp_path: Path) -> Iterator[LogPipeline]:
    pipeline = LogPipeline(tmp_path, "Test Bus")
    yield pipeline
    pipeline.close(timeout=5)


def messages(tmp_path: Path) -> list[str]:
    conn = sqlite3.connect(tmp_path / "logs" / "logs.db")
    try:
        return [row[0] for row in conn.execute("SELECT message FROM logs ORDER BY rowid")]
    finally:
        conn.close()


def insert(conn: sqlite3.Connection, count: int) -> None:
    conn.executemany(
        "INSERT INTO logs (timestamp, level, scope_type, message) VALUES (?, 'info', 'internal', ?)",
        [(f"2026-01-01T00:00:00.{index % 1000:03d}Z", f"m{index}") for index in range(count)],
    )


@pytest.mark.parametrize(
    ("count", "maximum", "deleted"),
    [(99, 100, 0), (100, 100, 20), (130, 100, 50), (10, 10, 2), (4, 4, 0), (5, 4, 1), (7, 0, 0)],
)
def test_purge_rule(tmp_path: Path, count: int, maximum: int, deleted: int) -> None:
    conn = connect(tmp_path / "logs.db")
    try:
        insert(conn, count)
        assert purge(conn, count, maximum) == deleted
        left = [row[0] for row in conn.execute("SELECT message FROM logs ORDER BY rowid")]
        # The oldest rows go first.
        assert left == [f"m{index}" for index in range(deleted, count)]
    finally:
        conn.close()


def test_schema_wal_and_upstream_columns(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "logs.db"
    path.parent.mkdir()
    # An upstream 3.8 database: no item or group columns yet.
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE logs (timestamp TEXT, level TEXT, scope_type TEXT, scope_id TEXT, scope_name TEXT, message TEXT)"
    )
    old.execute("INSERT INTO logs VALUES ('2025-01-01T00:00:00.000Z', 'info', 'internal', NULL, NULL, 'kept')")
    old.commit()
    old.close()
    LogStore(tmp_path)
    conn = sqlite3.connect(path)
    try:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(logs)")]
        assert columns == [
            "timestamp",
            "level",
            "scope_type",
            "scope_id",
            "scope_name",
            "message",
            "item_id",
            "item_name",
            "group_id",
            "group_name",
        ]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT message FROM logs").fetchall() == [("kept",)]
    finally:
        conn.close()


def test_sink_purges_as_upstream_and_takes_a_new_maximum_live(pipeline: LogPipeline, tmp_path: Path) -> None:
    pipeline.start(settings({"level": "info", "maxNumberOfLogs": 10}))
    log = pipeline.get_logger()
    for index in range(10):
        log.info(f"a{index}")
    assert pipeline.flush()
    # 10 rows reach the maximum: 10 - 10 + 10/5 = 2 oldest rows go.
    assert messages(tmp_path) == [f"a{index}" for index in range(2, 10)]
    for index in range(5):
        log.info(f"b{index}")
    assert pipeline.flush()
    # 13 rows: 13 - 10 + 2 = 5 go.
    assert messages(tmp_path) == [*(f"a{index}" for index in range(7, 10)), *(f"b{index}" for index in range(5))]

    pipeline.apply(settings({"level": "info", "maxNumberOfLogs": 5}))
    log.info("c0")
    assert pipeline.flush()
    # 9 rows against a maximum of 5: 9 - 5 + 1 = 5 go.
    assert messages(tmp_path) == ["b2", "b3", "b4", "c0"]


def test_zero_maximum_disables_the_sink(pipeline: LogPipeline, tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    pipeline.start(settings({"level": "info", "maxNumberOfLogs": 0}))
    pipeline.get_logger().error("not stored")
    assert pipeline.flush()
    assert messages(tmp_path) == []
    pipeline.apply(settings({"level": "info", "maxNumberOfLogs": 100}))
    pipeline.get_logger().error("stored")
    assert pipeline.flush()
    assert messages(tmp_path) == ["stored"]
    assert store.get_scope("none") is None


def test_delete_scope_removes_only_that_scope(pipeline: LogPipeline, tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    pipeline.start(settings({"level": "info", "maxNumberOfLogs": 100}))
    log = pipeline.get_logger()
    log.info("north one", scopeType="north", scopeId="n1", scopeName="N1")
    log.info("north two", scopeType="north", scopeId="n2", scopeName="N2")
    log.info("south one", scopeType="south", scopeId="n1", scopeName="S1")
    assert pipeline.flush()
    assert store.delete_scope("north", "n1") == 1
    assert messages(tmp_path) == ["north two", "south one"]
    # The sink keeps counting right after a deletion behind its back.
    log.info("after")
    assert pipeline.flush()
    assert messages(tmp_path) == ["north two", "south one", "after"]
