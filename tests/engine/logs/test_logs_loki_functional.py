"""Loki sink against an aiohttp server: push format, labels, auth, batching, retry, drops, and a hanging target."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from engine_process import closed_port

from engine.config.models import LoggerSettings
from engine.logs import LogPipeline, LogQuery, LogStore
from engine.logs.loki import LokiSink, LokiSpec, push_url
from engine.logs.records import INFO, LogRecord, build_record


@dataclass
class FakeLoki:
    """A Loki push endpoint that records every attempt and answers as told."""

    address: str = ""
    attempts: list[tuple[int, dict[str, str], Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    hang: asyncio.Event | None = None
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    accepted: asyncio.Event = field(default_factory=asyncio.Event)

    async def push(self, request: web.Request) -> web.Response:
        self.entered.set()
        if self.hang is not None:
            await self.hang.wait()
        body = await request.json()
        status = self.statuses.pop(0) if self.statuses else 204
        self.attempts.append((status, dict(request.headers), body))
        if status < 300:
            self.accepted.set()
        return web.Response(status=status)

    @property
    def pushed(self) -> list[Any]:
        """Bodies Loki accepted."""
        return [body for status, _, body in self.attempts if status < 300]


@pytest.fixture(name="loki")
async def loki_fixture() -> AsyncIterator[FakeLoki]:
    fake = FakeLoki()
    app = web.Application()
    app.router.add_post("/loki/api/v1/push", fake.push)
    async with TestServer(app, host="127.0.0.1") as server:
        fake.address = f"http://127.0.0.1:{server.port}"
        yield fake
        if fake.hang is not None:
            fake.hang.set()


def logger_settings(loki: dict[str, Any], database: str = "silent") -> LoggerSettings:
    return msgspec.convert(
        {
            "console": {"level": "silent"},
            "file": {"level": "silent"},
            "database": {"level": database},
            "loki": loki,
        },
        LoggerSettings,
    )


def record(message: str) -> LogRecord:
    return build_record(time.time_ns(), INFO, message, {})


def failing(sink: LokiSink) -> bool:
    """Read the flag through a call (mypy would keep an asserted attribute narrowed)."""
    return sink.failing


def lines(body: Any) -> list[str]:
    return [value[1] for stream in body["streams"] for value in stream["values"]]


def test_push_url_follows_upstream() -> None:
    assert push_url("http://loki:3100") == "http://loki:3100/loki/api/v1/push"
    assert push_url("http://loki:3100/") == "http://loki:3100/loki/api/v1/push"
    assert push_url("https://gw/tenant/") == "https://gw/tenant/loki/api/v1/push"
    assert push_url("http://loki:3100/loki/api/v1/push") == "http://loki:3100/loki/api/v1/push"


async def test_push_format_labels_and_basic_auth(loki: FakeLoki, tmp_path: Path) -> None:
    settings = logger_settings(
        {"level": "info", "interval": 60, "address": loki.address, "username": "user", "password": "p@ss"}
    )
    with LogPipeline(tmp_path, "Plant Bus") as pipeline:
        pipeline.start(settings)
        log = pipeline.get_logger()
        log.info("engine started", port=2223)
        north = log.bind(scopeType="north", scopeId="n1", scopeName="Files")
        north.warning("file sent", itemName="Temp", password="hidden")
        north.warning("file sent again")
        north.debug("not for loki")
        assert await asyncio.to_thread(pipeline.flush, 10)

    ((status, headers, body),) = loki.attempts
    assert status == 204
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"user:p@ss").decode()
    assert headers["Content-Type"] == "application/json"
    streams = {tuple(sorted(stream["stream"].items())): stream["values"] for stream in body["streams"]}
    internal = (("level", "info"), ("name", "Plant Bus"), ("scopeType", "internal"))
    north_labels = (
        ("level", "warning"),
        ("name", "Plant Bus"),
        ("scopeId", "n1"),
        ("scopeName", "Files"),
        ("scopeType", "north"),
    )
    assert set(streams) == {internal, north_labels}
    assert [line for _, line in streams[internal]] == ["engine started port=2223"]
    assert [line for _, line in streams[north_labels]] == [
        "file sent password=*** itemName=Temp",
        "file sent again",
    ]
    for timestamp, _ in [*streams[internal], *streams[north_labels]]:
        assert len(timestamp) == 19 and timestamp.isdigit()
    assert int(streams[north_labels][0][0]) <= int(streams[north_labels][1][0])


async def test_no_authorization_without_username(loki: FakeLoki, tmp_path: Path) -> None:
    with LogPipeline(tmp_path) as pipeline:
        pipeline.start(logger_settings({"level": "info", "interval": 60, "address": loki.address}))
        pipeline.get_logger().info("anonymous")
        assert await asyncio.to_thread(pipeline.flush, 10)
    ((_, headers, body),) = loki.attempts
    assert "Authorization" not in headers
    assert lines(body) == ["anonymous"]


async def test_pushes_every_interval_without_being_asked(loki: FakeLoki, tmp_path: Path) -> None:
    with LogPipeline(tmp_path) as pipeline:
        pipeline.start(logger_settings({"level": "info", "interval": 1, "address": loki.address}))
        pipeline.get_logger().info("on schedule")
        await asyncio.wait_for(loki.accepted.wait(), 15)
        assert [lines(body) for body in loki.pushed] == [["on schedule"]]


async def test_keeps_records_while_down_and_drops_the_oldest(loki: FakeLoki) -> None:
    reports: list[tuple[int, str, dict[str, Any]]] = []
    sink = LokiSink(
        LokiSpec(loki.address, "", "", 60, "Bus"),
        INFO,
        lambda level, event, fields: reports.append((level, event, fields)),
        max_buffer=5,
        batch_size=100,
    )
    sink.start()
    try:
        loki.statuses = [503]
        for index in range(3):
            sink.offer(record(f"m{index}"))
        assert await asyncio.to_thread(sink.request_flush().wait, 10)
        assert [status for status, _, _ in loki.attempts] == [503]
        assert failing(sink)
        assert [event for _, event, _ in reports] == ["log sink unavailable"]

        # Three records wait for a retry; four more make seven for a buffer of five.
        for index in range(3, 7):
            sink.offer(record(f"m{index}"))
        assert await asyncio.to_thread(sink.request_flush().wait, 10)
        assert [lines(body) for body in loki.pushed] == [["m2", "m3", "m4", "m5", "m6"]]
        assert not failing(sink)
        assert sink.dropped == 2
        assert [(event, fields) for _, event, fields in reports[1:]] == [
            ("log sink available again", {"sink": "loki"}),
            ("log records dropped", {"sink": "loki", "count": 2}),
        ]
    finally:
        sink.close()
        await asyncio.to_thread(sink.join, 10)


async def test_a_refused_batch_is_dropped_not_retried(loki: FakeLoki) -> None:
    reports: list[str] = []
    sink = LokiSink(LokiSpec(loki.address, "", "", 60, "Bus"), INFO, lambda level, event, fields: reports.append(event))
    sink.start()
    try:
        loki.statuses = [400]
        sink.offer(record("too old"))
        assert await asyncio.to_thread(sink.request_flush().wait, 10)
        sink.offer(record("fresh"))
        assert await asyncio.to_thread(sink.request_flush().wait, 10)
        assert [(status, lines(body)) for status, _, body in loki.attempts] == [(400, ["too old"]), (204, ["fresh"])]
        assert reports[0] == "log sink rejected records"
    finally:
        sink.close()
        await asyncio.to_thread(sink.join, 10)


async def test_unreachable_loki_is_reported_once() -> None:
    with closed_port() as port:
        reports: list[str] = []
        sink = LokiSink(
            LokiSpec(f"http://127.0.0.1:{port}", "", "", 60, "Bus"),
            INFO,
            lambda level, event, fields: reports.append(event),
        )
        sink.start()
        try:
            for attempt in range(3):
                sink.offer(record(f"attempt {attempt}"))
                assert await asyncio.to_thread(sink.request_flush().wait, 10)
            assert failing(sink)
            assert reports == ["log sink unavailable"]
        finally:
            sink.close()
            await asyncio.to_thread(sink.join, 10)


async def test_a_hanging_loki_never_blocks_logging_or_other_sinks(loki: FakeLoki, tmp_path: Path) -> None:
    loki.hang = asyncio.Event()
    store = LogStore(tmp_path)
    settings = logger_settings({"level": "info", "interval": 60, "address": loki.address}, database="info")
    with LogPipeline(tmp_path) as pipeline:
        pipeline.start(settings)
        log = pipeline.get_logger()
        log.info("first")
        stuck_flush = asyncio.get_running_loop().run_in_executor(None, pipeline.flush, 30)
        await asyncio.wait_for(loki.entered.wait(), 10)
        # Loki now holds the push open. Logging from the event loop goes on; so does the database.
        for index in range(5000):
            log.info("while loki hangs", index=index)
        query = LogQuery(start="2000-01-01T00:00:00.000Z", end="2100-01-01T00:00:00.000Z")
        deadline = time.monotonic() + 20
        total = 0
        while total < 5001 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            total = (await asyncio.to_thread(store.search, query))["totalElements"]
        assert total == 5001
        assert not stuck_flush.done()
        assert pipeline.dropped == 0
        loki.hang.set()
        assert await stuck_flush
        assert await asyncio.to_thread(pipeline.flush, 10)
    assert sum(len(lines(body)) for body in loki.pushed) == 5001
