"""Custom transformer overhead per 1,000-value batch: a round trip to the sandbox process and V8, median of runs.

The transformer is the smallest upstream-style one that still reads and writes every value (JSON in, mapped
time-values out), so the figure is the cost of the sandbox itself; the standard ``time-values-to-oianalytics``
on the same batch is printed beside it for scale. Wall-clock medians swing with whatever else the machine
runs, so the CPU time both processes (engine side and sandbox) spend per batch is printed too: that figure
does not depend on the machine's load.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.routing.transformers import transform_content
from engine.sandbox.client import SandboxClient

BATCH = 1000
RUNS = 200
CODE = """function transform(content, source, filename, options) {
  const values = JSON.parse(content).map((v) => ({ pointId: v.pointId, timestamp: v.timestamp, data: v.data }));
  return { data: values, numberOfElement: values.length };
}"""


def batch() -> str:
    return json.dumps(
        [
            {"pointId": f"point-{i % 50}", "timestamp": f"2026-01-01T00:00:{i % 60:02d}.000Z", "data": {"value": i}}
            for i in range(BATCH)
        ]
    )


def js_only(content: str) -> float:
    """Milliseconds the transform itself takes in V8 (looped inside one call: no crossing, no process)."""
    from py_mini_racer import JSFunction, MiniRacer

    context = MiniRacer()
    try:
        context.eval(CODE)
        loop = context.eval(
            f"(function (c) {{ const t = Date.now(); for (let i = 0; i < {RUNS}; i++) transform(c);"
            " return Date.now() - t; })"
        )
        assert isinstance(loop, JSFunction)
        loop(content)  # warm the compiler
        return float(str(loop(content))) / RUNS
    finally:
        context.close()


async def main() -> None:
    content = batch()
    async with SandboxClient() as sandbox:
        for _ in range(10):  # warm the process, the isolate and V8's compiler
            await sandbox.run(CODE, content)
        assert sandbox.pid is not None
        child = psutil.Process(sandbox.pid)
        custom: list[float] = []
        cpu_before = time.process_time() + sum(child.cpu_times()[:2])
        for _ in range(RUNS):
            started = time.perf_counter()
            result = await sandbox.run(CODE, content)
            custom.append((time.perf_counter() - started) * 1000)
            assert result.number_of_element == BATCH
        cpu_ms = (time.process_time() + sum(child.cpu_times()[:2]) - cpu_before) * 1000 / RUNS
    own_ms = js_only(content)
    standard: list[float] = []
    payload = content.encode()
    for _ in range(RUNS):
        started = time.perf_counter()
        transform_content("time-values-to-oianalytics", {}, "time-values", payload)
        standard.append((time.perf_counter() - started) * 1000)
    print(
        f"custom transformer, {BATCH}-value batch: median {statistics.median(custom):.2f} ms, "
        f"p95 {statistics.quantiles(custom, n=20)[18]:.2f} ms over {RUNS} runs (target < 2 ms)"
    )
    print(f"custom transformer, {BATCH}-value batch: {cpu_ms:.2f} ms of CPU (engine side + sandbox) per batch")
    print(f"of which the transformer's own JavaScript (parse, map, stringify in V8): {own_ms:.2f} ms per batch")
    print(f"sandbox overhead (CPU per batch less the transform's own work): {max(0.0, cpu_ms - own_ms):.2f} ms")
    print(f"standard time-values-to-oianalytics, same batch: median {statistics.median(standard):.2f} ms")
    print(f"machine load while measuring: {psutil.getloadavg()[0]:.1f} on {psutil.cpu_count()} CPUs")


if __name__ == "__main__":
    asyncio.run(main())
