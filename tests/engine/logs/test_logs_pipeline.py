"""The log pipeline: record shape, redaction, levels per sink changed live, rotation, bounds, structlog."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import structlog
from structlog.testing import capture_logs

from engine.config.models import LoggerSettings
from engine.logs import LogPipeline, configure, get_logger
from engine.logs.logger import ROUTE
from engine.logs.records import SILENT

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def settings(**sections: dict[str, Any]) -> LoggerSettings:
    """Logger settings with every sink silent except the sections given (camelCase, as the API takes them)."""
    base: dict[str, Any] = {
        "console": {"level": "silent"},
        "file": {"level": "silent"},
        "database": {"level": "silent"},
    }
    base.update(sections)
    return msgspec.convert(base, LoggerSettings)


@pytest.fixture(name="pipeline")
def pipeline_fixture(tmp_path: Path) -> Iterator[LogPipeline]:
    pipeline = LogPipeline(tmp_path, "Test Bus")
    yield pipeline
    pipeline.close(timeout=5)


def journal(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "logs" / "journal.log"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def db_rows(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "logs" / "logs.db"
    if not path.exists():
        return []
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute("SELECT * FROM logs ORDER BY rowid")]
    finally:
        conn.close()


def test_record_shape_and_message_rendering(pipeline: LogPipeline, tmp_path: Path) -> None:
    pipeline.start(settings(file={"level": "debug"}))
    log = pipeline.get_logger("tests").bind(scopeType="south", scopeId="s1", scopeName="PLC 1")
    log.info("item read", itemId="i1", itemName="Temp", groupId="g1", groupName="Line A", count=3, note="two words")
    log.warning("nested", data={"a": [1, 2]}, empty="", flag=True, nothing=None, ratio=0.5)
    pipeline.get_logger().debug("plain internal")
    assert pipeline.flush()

    first, second, third = journal(tmp_path)
    assert set(first) == {
        "timestamp",
        "level",
        "scopeType",
        "scopeId",
        "scopeName",
        "message",
        "itemId",
        "itemName",
        "groupId",
        "groupName",
    }
    assert ISO_MS.match(first["timestamp"])
    assert first["level"] == "info"
    assert (first["scopeType"], first["scopeId"], first["scopeName"]) == ("south", "s1", "PLC 1")
    assert (first["itemId"], first["itemName"], first["groupId"], first["groupName"]) == ("i1", "Temp", "g1", "Line A")
    assert first["message"] == 'item read count=3 note="two words"'
    assert second["level"] == "warn"
    assert second["message"] == 'nested data={"a":[1,2]} empty="" flag=true nothing=null ratio=0.5'
    assert (third["scopeType"], third["scopeId"], third["level"]) == ("internal", None, "debug")


def test_traceback_follows_the_message(pipeline: LogPipeline, tmp_path: Path) -> None:
    pipeline.start(settings(file={"level": "info"}))
    try:
        raise ValueError("bad value")
    except ValueError:
        pipeline.get_logger().exception("read failed", item="x")
    assert pipeline.flush()
    (record,) = journal(tmp_path)
    head, _, trace = record["message"].partition("\n")
    assert (record["level"], head) == ("error", "read failed item=x")
    assert trace.startswith("Traceback") and trace.endswith("ValueError: bad value")


def test_secrets_are_redacted_in_every_sink(
    pipeline: LogPipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline.start(settings(console={"level": "info"}, file={"level": "info"}, database={"level": "info"}))
    log = pipeline.get_logger()
    log.info(
        "connecting",
        password="pw-1",
        proxyPassword="pw-2",
        token="tok-3",
        clientSecret="sec-4",
        passphrase="pp-5",
        Authorization="Basic YWI=",
        apiKey="key-6",
        settings={"host": "h", "auth": {"password": "pw-7"}, "list": [{"secret": "sec-8"}]},
        user="admin",
    )
    assert pipeline.flush()
    outputs = [capsys.readouterr().err, (tmp_path / "logs" / "journal.log").read_text(), str(db_rows(tmp_path))]
    for output in outputs:
        for secret in ("pw-1", "pw-2", "tok-3", "sec-4", "pp-5", "YWI=", "key-6", "pw-7", "sec-8"):
            assert secret not in output
        assert "user=admin" in output
        assert "password=***" in output
    message = db_rows(tmp_path)[0]["message"]
    assert 'settings={"host":"h","auth":{"password":"***"},"list":[{"secret":"***"}]}' in message


def test_each_sink_has_its_own_level(pipeline: LogPipeline, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pipeline.start(settings(console={"level": "warn"}, file={"level": "debug"}, database={"level": "info"}))
    assert pipeline.effective_level == "debug"
    log = pipeline.get_logger()
    log.trace("t-event")
    log.debug("d-event")
    log.info("i-event")
    log.warning("w-event")
    log.error("e-event")
    assert pipeline.flush()
    console = capsys.readouterr().err.splitlines()
    assert [line.split()[-1] for line in console] == ["w-event", "e-event"]
    assert [row["message"] for row in journal(tmp_path)] == ["d-event", "i-event", "w-event", "e-event"]
    assert [row["message"] for row in db_rows(tmp_path)] == ["i-event", "w-event", "e-event"]
    assert [row["level"] for row in db_rows(tmp_path)] == ["info", "warn", "error"]


def test_levels_change_live(pipeline: LogPipeline, tmp_path: Path) -> None:
    pipeline.start(settings(file={"level": "info"}, database={"level": "error"}))
    log = pipeline.get_logger()
    log.debug("before-debug")
    log.info("before-info")
    pipeline.apply(settings(file={"level": "debug"}, database={"level": "info"}))
    assert pipeline.effective_level == "debug"
    log.debug("after-debug")
    log.info("after-info")
    pipeline.apply(settings(file={"level": "silent"}, database={"level": "warn"}))
    assert pipeline.effective_level == "warn"
    log.info("silenced-info")
    log.warning("last-warn")
    assert pipeline.flush()
    assert [row["message"] for row in journal(tmp_path)] == ["before-info", "after-debug", "after-info"]
    assert [row["message"] for row in db_rows(tmp_path)] == ["after-info", "last-warn"]


def test_filtered_calls_never_reach_the_queue(pipeline: LogPipeline) -> None:
    pipeline.start(settings(database={"level": "warn"}))
    log = pipeline.get_logger().bind(scopeType="north")
    assert pipeline.threshold > 20
    assert pipeline.flush()
    before = pipeline.dropped
    # A filtered call returns before touching its fields or the queue.
    for _ in range(1000):
        log.info("ignored", value=object())
        log.debug("ignored")
    assert len(pipeline._inbox) == 0
    assert pipeline.dropped == before
    assert not log.is_enabled_for("info") and log.is_enabled_for("error")


def test_everything_silent_means_threshold_silent(pipeline: LogPipeline) -> None:
    pipeline.start(settings(database={"level": "info", "maxNumberOfLogs": 0}))
    assert pipeline.threshold == SILENT
    assert pipeline.effective_level == "silent"


def test_file_rotation_keeps_number_of_files(pipeline: LogPipeline, tmp_path: Path) -> None:
    pipeline.start(settings(file={"level": "info", "maxFileSize": 1, "numberOfFiles": 3}))
    log = pipeline.get_logger()
    filler = "x" * 1000
    for index in range(4000):  # About 4.3 MB of lines: more than the three 1 MB files can hold.
        log.info("line", index=index, filler=filler)
        if index % 500 == 0:
            assert pipeline.flush()
    assert pipeline.flush()
    logs = tmp_path / "logs"
    assert sorted(path.name for path in logs.glob("journal*.log")) == ["journal.1.log", "journal.2.log", "journal.log"]
    for path in logs.glob("journal*.log"):
        assert path.stat().st_size <= 1024 * 1024
    indexes = [
        int(json.loads(line)["message"].split()[1].removeprefix("index="))
        for name in ("journal.2.log", "journal.1.log", "journal.log")
        for line in (logs / name).read_text().splitlines()
    ]
    # The three files hold the newest lines, in order, without a gap; the oldest ones were rolled away.
    assert indexes == list(range(indexes[0], 4000))
    assert indexes[0] > 0

    pipeline.apply(settings(file={"level": "info", "maxFileSize": 1, "numberOfFiles": 2}))
    assert pipeline.flush()
    assert sorted(path.name for path in logs.glob("journal*.log")) == ["journal.1.log", "journal.log"]


def test_worker_records_keep_their_scope(pipeline: LogPipeline, tmp_path: Path) -> None:
    pipeline.start(settings(database={"level": "debug"}))
    relay = pipeline.get_logger("engine.worker")
    # What a worker's ``Log`` frame carries: the level name, the event and the fields its logger bound.
    for level in ("trace", "debug", "info", "warning", "warn", "error"):
        relay.log(level, "north message", scopeType="north", scopeId="n1", scopeName="Files", worker="north:n1")
    relay.log("info", "history message", scopeType="history", scopeId="h1", scopeName="HQ")
    assert pipeline.flush()
    rows = db_rows(tmp_path)
    assert [row["level"] for row in rows] == ["debug", "info", "warn", "warn", "error", "info"]
    assert {(row["scope_type"], row["scope_id"], row["scope_name"]) for row in rows} == {
        ("north", "n1", "Files"),
        ("history-query", "h1", "HQ"),
    }
    assert rows[0]["message"] == "north message worker=north:n1"


def test_full_queue_drops_and_reports(tmp_path: Path) -> None:
    pipeline = LogPipeline(tmp_path, max_pending=100)
    try:
        # Before start the dispatcher is not running: the queue fills up and the rest is counted.
        for index in range(1000):
            pipeline.emit(30, "", "flood", {"index": index})
        assert pipeline.dropped == 900
        pipeline.start(settings(database={"level": "info"}))
        assert pipeline.flush()
        rows = db_rows(tmp_path)
        assert len([row for row in rows if row["message"].startswith("flood")]) == 100
        assert any(row["message"] == "log records dropped sink=queue count=900" for row in rows)
    finally:
        pipeline.close()


def installed() -> Any:
    """The installed pipeline, read through a call (mypy would keep an asserted attribute narrowed)."""
    return ROUTE.pipeline


def test_installed_pipeline_takes_structlog_and_get_logger(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = configure(settings(database={"level": "info"}), tmp_path, "Installed")
    try:
        assert installed() is pipeline
        slog = structlog.get_logger("tests.structlog")
        slog.debug("structlog-debug")
        slog.info("structlog-info", password="x", scopeType="north", scopeId="n9")
        try:
            raise RuntimeError("kaput")
        except RuntimeError:
            slog.exception("structlog-exception")
        get_logger("tests.fast").warning("fast-warning", itemId="i9")
        pipeline.apply(settings(database={"level": "debug"}))
        slog.debug("structlog-debug-after")
        assert pipeline.flush()
        rows = db_rows(tmp_path)
        assert [row["message"].split("\n")[0] for row in rows] == [
            "structlog-info password=***",
            "structlog-exception",
            "fast-warning",
            "structlog-debug-after",
        ]
        assert (rows[0]["scope_type"], rows[0]["scope_id"]) == ("north", "n9")
        assert rows[1]["message"].endswith("RuntimeError: kaput")
        assert rows[2]["item_id"] == "i9"
    finally:
        pipeline.close()
    assert installed() is None
    # A structlog logger used while the pipeline was installed keeps writing, to stderr, once it is closed.
    slog.warning("late line", step="shutdown")
    assert capsys.readouterr().err.endswith(" warn  internal late line step=shutdown\n")


def test_loggers_fall_back_to_structlog_when_nothing_is_installed() -> None:
    assert installed() is None
    with capture_logs() as captured:
        get_logger("tests.fallback").bind(scopeId="a").warning("fallback %s", "works", key=1)
    assert captured == [{"event": "fallback works", "scopeId": "a", "key": 1, "log_level": "warning"}]


def test_apply_and_flush_after_close_are_harmless(tmp_path: Path) -> None:
    pipeline = LogPipeline(tmp_path)
    pipeline.start(settings(file={"level": "info"}))
    pipeline.get_logger().info("before close")
    pipeline.close()
    pipeline.apply(settings(file={"level": "debug"}))
    pipeline.get_logger().info("after close")
    assert pipeline.flush()
    assert [row["message"] for row in journal(tmp_path)] == ["before close"]
