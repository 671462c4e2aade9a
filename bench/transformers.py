"""Custom transformer overhead per 1,000-value batch: a round trip to the sandbox process and V8, median of runs.

The transformer is the smallest upstream-style one that still reads and writes every value (JSON in, mapped
time-values out), so the figure is the cost of the sandbox itself; the standard ``time-values-to-oianalytics``
on the same batch is printed beside it for scale.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

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


async def main() -> None:
    content = batch()
    async with SandboxClient() as sandbox:
        for _ in range(10):  # warm the process, the isolate and V8's compiler
            await sandbox.run(CODE, content)
        custom: list[float] = []
        for _ in range(RUNS):
            started = time.perf_counter()
            result = await sandbox.run(CODE, content)
            custom.append((time.perf_counter() - started) * 1000)
            assert result.number_of_element == BATCH
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
    print(f"standard time-values-to-oianalytics, same batch: median {statistics.median(standard):.2f} ms")


if __name__ == "__main__":
    asyncio.run(main())
