"""Custom JavaScript transformers in the sandbox process: upstream-style examples, limits, containment."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

from engine.sandbox.client import SandboxClient, SandboxError

EXAMPLES = Path(__file__).with_name("examples")
LOOP = "function transform(content) { while (true) {} }"
HOG = "function transform(content) { const keep = []; while (true) { keep.push(new Array(1e5).fill(content)); } }"
ECHO = "function transform(content, source, filename, options) { return { data: content, numberOfElement: 1 }; }"


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxClient]:
    async with SandboxClient() as client:
        yield client


async def test_csv_to_time_values_example_gives_upstreams_output(sandbox: SandboxClient) -> None:
    content = "reference;date;value\nTEMP-01;2026-06-01 14:00:00;21.5\nTEMP-02;2026-06-01 14:00:10;19\n"
    result = await sandbox.run(
        (EXAMPLES / "csv-to-time-values.js").read_text(),
        content,
        filename="measures.csv",
        options={"delimiter": ";", "timezone": "Europe/Paris"},
    )
    assert json.loads(result.output or "") == [
        {"pointId": "TEMP-01", "timestamp": "2026-06-01T12:00:00.000Z", "data": {"value": 21.5}},
        {"pointId": "TEMP-02", "timestamp": "2026-06-01T12:00:10.000Z", "data": {"value": 19}},
    ]
    assert (result.filename, result.number_of_element) == ("measures.json", 2)


async def test_any_to_time_values_example_gives_upstreams_output(sandbox: SandboxClient) -> None:
    message = {
        "device": "press-3",
        "measures": [
            {"name": "force", "value": 12.5, "epochMs": 1780322400000},
            {"name": "speed", "value": 3, "epochMs": 1780322401000, "quality": "uncertain"},
        ],
    }
    result = await sandbox.run(
        (EXAMPLES / "any-to-time-values.js").read_text(), json.dumps(message), filename="plant/press-3"
    )
    assert json.loads(result.output or "") == [
        {
            "pointId": "press-3.force",
            "timestamp": "2026-06-01T14:00:00.000Z",
            "data": {"value": 12.5, "quality": "good"},
        },
        {
            "pointId": "press-3.speed",
            "timestamp": "2026-06-01T14:00:01.000Z",
            "data": {"value": 3, "quality": "uncertain"},
        },
    ]
    assert result.number_of_element == 2
    assert result.logs == [("info", "converted 2 values from plant/press-3")]


async def test_an_endless_loop_stops_at_the_time_limit_and_the_sandbox_goes_on(sandbox: SandboxClient) -> None:
    await sandbox.run(ECHO, "warm")
    pid = sandbox.pid
    with pytest.raises(SandboxError, match="time limit") as caught:
        await sandbox.run(LOOP, "x", timeout_ms=200)
    assert caught.value.kind == "TIMEOUT_ERROR"
    assert (await sandbox.run(ECHO, "after")).output == "after"
    assert sandbox.pid == pid


async def test_unbounded_allocation_stops_at_the_memory_limit(sandbox: SandboxClient) -> None:
    with pytest.raises(SandboxError, match="memory limit") as caught:
        await sandbox.run(HOG, "x" * 100, timeout_ms=20_000, memory_limit_mb=64)
    assert caught.value.kind == "MEMORY_LIMIT_EXCEEDED"
    assert (await sandbox.run(ECHO, "after")).output == "after"


async def test_runs_outside_the_engine_process_without_file_system_or_network(sandbox: SandboxClient) -> None:
    probe = """function transform() {
      let fs = 'none';
      try { require('fs'); fs = 'loaded'; } catch (err) { fs = String(err.message); }
      return { data: { fs, fetch: typeof fetch, process: typeof process, xhr: typeof XMLHttpRequest } };
    }"""
    result = json.loads((await sandbox.run(probe, "")).output or "")
    assert result == {
        "fs": "require('fs'): not available to transformers",
        "fetch": "undefined",
        "process": "undefined",
        "xhr": "undefined",
    }
    assert sandbox.pid is not None and sandbox.pid != os.getpid()


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("function transform( {", "COMPILATION_ERROR"),
        ("const nothing = 1;", "COMPILATION_ERROR"),
        ("function transform() { throw new Error('bad row 3'); }", "RUNTIME_ERROR"),
    ],
)
async def test_broken_code_gives_a_named_error(sandbox: SandboxClient, code: str, kind: str) -> None:
    with pytest.raises(SandboxError) as caught:
        await sandbox.run(code, "")
    assert caught.value.kind == kind


async def test_a_killed_sandbox_is_replaced_on_the_next_run(sandbox: SandboxClient) -> None:
    await sandbox.run(ECHO, "first")
    first = sandbox.pid
    assert first is not None
    victim = psutil.Process(first)
    victim.kill()
    victim.wait(10)
    with pytest.raises(SandboxError):
        await sandbox.run(ECHO, "lost")
    assert (await sandbox.run(ECHO, "second")).output == "second"
    assert sandbox.pid not in (None, first)
