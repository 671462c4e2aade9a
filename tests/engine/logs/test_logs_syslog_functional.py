"""Syslog sink against real UDP and TCP sockets: RFC 5424 line format, levels, framing, reconnection."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from engine.config.models import LoggerSettings
from engine.logs import LogPipeline

RFC5424 = re.compile(
    r"^<(?P<pri>\d{1,3})>1 (?P<timestamp>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (?P<host>\S+) (?P<app>\S+)"
    r" (?P<procid>\S+) (?P<msgid>\S+) - (?P<msg>.*)$"
)


def logger_settings(syslog: dict[str, Any]) -> LoggerSettings:
    return msgspec.convert(
        {
            "console": {"level": "silent"},
            "file": {"level": "silent"},
            "database": {"level": "silent"},
            "syslog": syslog,
        },
        LoggerSettings,
    )


@pytest.fixture(name="pipeline")
def pipeline_fixture(tmp_path: Path) -> Iterator[LogPipeline]:
    pipeline = LogPipeline(tmp_path, "Plant Bus")
    yield pipeline
    pipeline.close(timeout=5)


def test_udp_rfc5424_lines(pipeline: LogPipeline) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(10)
        port = server.getsockname()[1]
        pipeline.start(logger_settings({"level": "info", "host": "127.0.0.1", "port": port, "protocol": "udp4"}))
        log = pipeline.get_logger()
        log.debug("not sent")
        log.info("engine started", port=2223)
        try:
            raise OSError("disk full")
        except OSError:
            log.bind(scopeType="north", scopeId="n1", scopeName="Files").exception(
                "cache write failed", itemName="Temp", token="t0k"
            )
        assert pipeline.flush()
        first = RFC5424.match(server.recv(65535).decode())
        second = RFC5424.match(server.recv(65535).decode())

    assert first is not None and second is not None
    # Facility local0 (16): info is 16 * 8 + 6, error 16 * 8 + 3.
    assert (first["pri"], second["pri"]) == ("134", "131")
    assert first["host"] == socket.gethostname()
    assert first["app"] == second["app"] == "Plant_Bus"
    assert first["procid"] == str(os.getpid())
    assert (first["msgid"], second["msgid"]) == ("internal", "north")
    assert first["msg"] == "engine started port=2223"
    message, *trace = second["msg"].split("#012")
    assert message == "Files: cache write failed token=*** itemName=Temp"
    assert trace[0] == "Traceback (most recent call last):"
    assert trace[-1] == "OSError: disk full"
    assert "t0k" not in second["msg"]


def test_tcp_newline_framing_and_level_change(pipeline: LogPipeline) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(10)
        port = server.getsockname()[1]
        settings = {"level": "warn", "host": "127.0.0.1", "port": port, "protocol": "tcp"}
        pipeline.start(logger_settings(settings))
        log = pipeline.get_logger()
        log.info("filtered")
        log.warning("one")
        log.error("two\nlines")
        pipeline.apply(logger_settings({**settings, "level": "debug"}))
        log.debug("three")
        assert pipeline.flush()
        connection, _ = server.accept()
        with connection:
            connection.settimeout(10)
            received = b""
            while received.count(b"\n") < 3:
                chunk = connection.recv(65535)
                assert chunk, f"connection closed after {received!r}"
                received += chunk
    lines = received.decode().splitlines()
    parsed = [RFC5424.match(line) for line in lines]
    assert [match["msg"] for match in parsed if match] == ["one", "two#012lines", "three"]
    assert [match["pri"] for match in parsed if match] == ["132", "131", "135"]


def test_tcp_target_down_then_up(pipeline: LogPipeline) -> None:
    # One socket, bound from the start so the port stays ours: refused while it does not listen (down),
    # then listening (up).
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
        pipeline.start(logger_settings({"level": "info", "host": "127.0.0.1", "port": port, "protocol": "tcp"}))
        log = pipeline.get_logger()
        log.info("while down")
        assert pipeline.flush()
        server.listen()
        server.settimeout(10)
        log.info("back up")
        assert pipeline.flush()
        connection, _ = server.accept()
        with connection:
            connection.settimeout(10)
            received = b""
            while received.count(b"\n") < 3:
                chunk = connection.recv(65535)
                assert chunk, f"connection closed after {received!r}"
                received += chunk
    messages = [match["msg"] for line in received.decode().splitlines() if (match := RFC5424.match(line))]
    # The record kept while the target was down, the sink's own warning about it, the new record.
    assert messages[0] == "while down"
    assert messages[1].startswith("log sink unavailable sink=syslog error=")
    assert messages[2] == "back up"
