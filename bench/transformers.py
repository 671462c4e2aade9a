"""Custom transformer overhead per 1,000-value batch: a round trip to the sandbox process and V8, over many batches.

The transformer is the smallest upstream-style one that still reads and writes every value (JSON in, mapped
time-values out), so the figure is the cost of the sandbox itself; the standard ``time-values-to-oianalytics``
on the same batch is printed beside it for scale.

Wall-clock figures (median, p90) swing with whatever else the machine runs, so figures that do not depend on
the load are printed too, as a breakdown:

- the CPU time both processes (engine side and sandbox, every thread) spend per batch, and of it the part the
  transform's own JavaScript takes (the same work looped inside one V8 call: no crossing, no process);
- the context switches per batch of both processes (every thread): each one is a hand-over between threads or
  processes, which costs little on an idle machine and a scheduler's time slice on a busy one;
- with ``--instructions`` (needs valgrind): the instructions per batch the sandbox process executes, counted by
  callgrind over 10 and 60 batches fed from a file, beside those of the transform's own JavaScript.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.routing.transformers import transform_content
from engine.sandbox.client import SandboxClient
from engine.sandbox.protocol import RunRequest, frame

ROOT = Path(__file__).resolve().parent.parent
BATCH = 1000
RUNS = 500
WARM = 20
CODE = """function transform(content, source, filename, options) {
  const values = JSON.parse(content).map((v) => ({ pointId: v.pointId, timestamp: v.timestamp, data: v.data }));
  return { data: values, numberOfElement: values.length };
}"""
# The transform as the sandbox runs it, looped inside one call: parse, map, and the answer written as JSON.
JS_LOOP = """(function (c, n) {
  let size = 0;
  for (let i = 0; i < n; i++) size += JSON.stringify(transform(c).data).length;
  return size;
})"""


def batch() -> str:
    return json.dumps(
        [
            {"pointId": f"point-{i % 50}", "timestamp": f"2026-01-01T00:00:{i % 60:02d}.000Z", "data": {"value": i}}
            for i in range(BATCH)
        ]
    )


def switches(pid: int) -> tuple[int, int]:
    """Voluntary and involuntary context switches of every thread of ``pid`` so far (Linux; zeros elsewhere).

    A voluntary one is a thread waiting for another (a hand-over the code asks for: the load does not change
    how many there are); an involuntary one is the scheduler taking the CPU away (there are more when busy).
    """
    voluntary = involuntary = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        try:
            text = status.read_text()
        except OSError:  # a thread that ended meanwhile
            continue
        voluntary += sum(int(n) for n in re.findall(r"^voluntary_ctxt_switches:\s+(\d+)", text, re.M))
        involuntary += sum(int(n) for n in re.findall(r"^nonvoluntary_ctxt_switches:\s+(\d+)", text, re.M))
    return voluntary, involuntary


def js_only(content: str, runs: int) -> float:
    """CPU milliseconds per batch of the transform's own JavaScript, looped inside one V8 call."""
    from py_mini_racer import JSFunction, MiniRacer

    context = MiniRacer()
    try:
        context.eval(CODE)
        loop = context.eval(JS_LOOP)
        assert isinstance(loop, JSFunction)
        loop(content, WARM)  # warm the compiler
        started = time.process_time()
        loop(content, runs)
        return (time.process_time() - started) * 1000 / runs
    finally:
        context.close()


def load() -> str:
    one, five, _ = psutil.getloadavg()
    return f"load average {one:.1f} (5 min {five:.1f}) on {psutil.cpu_count()} CPUs"


async def round_trips(content: str, runs: int) -> None:
    async with SandboxClient() as sandbox:
        for _ in range(WARM):  # warm the process, the isolate and V8's compiler
            await sandbox.run(CODE, content)
        assert sandbox.pid is not None
        child = psutil.Process(sandbox.pid)
        wall: list[float] = []
        own_cpu, child_cpu = time.process_time(), sum(child.cpu_times()[:2])
        own_cs, child_cs = switches(os.getpid()), switches(child.pid)
        for _ in range(runs):
            started = time.perf_counter()
            result = await sandbox.run(CODE, content)
            wall.append((time.perf_counter() - started) * 1000)
            assert result.number_of_element == BATCH
        engine_ms = (time.process_time() - own_cpu) * 1000 / runs
        sandbox_ms = (sum(child.cpu_times()[:2]) - child_cpu) * 1000 / runs
        engine_cs = [(after - before) / runs for after, before in zip(switches(os.getpid()), own_cs, strict=True)]
        sandbox_cs = [(after - before) / runs for after, before in zip(switches(child.pid), child_cs, strict=True)]
    own_ms = js_only(content, runs)
    deciles = statistics.quantiles(wall, n=10)
    print(f"custom transformer, {BATCH}-value batch, {runs} round trips ({load()}):")
    print(
        f"  wall clock: median {statistics.median(wall):.2f} ms, p90 {deciles[8]:.2f} ms, "
        f"best {min(wall):.2f} ms (target < 2 ms)"
    )
    print(f"  CPU per batch: {engine_ms + sandbox_ms:.2f} ms = engine side {engine_ms:.2f} + sandbox {sandbox_ms:.2f}")
    print(f"    of which the transform's own JavaScript (parse, map, write as JSON; looped in V8): {own_ms:.2f} ms")
    print(f"    sandbox overhead (CPU per batch less that): {max(0.0, engine_ms + sandbox_ms - own_ms):.2f} ms")
    print(
        f"  voluntary context switches per batch (hand-overs between threads): {engine_cs[0] + sandbox_cs[0]:.1f}"
        f" = engine side {engine_cs[0]:.1f} + sandbox {sandbox_cs[0]:.1f}"
    )
    print(f"  involuntary ones (preemption, with the load): {engine_cs[1] + sandbox_cs[1]:.1f}")


def callgrind(command: list[str], stdin: Path | None, workdir: Path, name: str) -> int:
    """Instructions ``command`` executes (every thread), counted by callgrind."""
    out = workdir / f"{name}.callgrind"
    with open(stdin or os.devnull, "rb") as source:
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", "--smc-check=all-non-file", f"--callgrind-out-file={out}", *command],
            stdin=source,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            check=True,
        )
    match = re.search(r"Collected\s*:\s*(\d+)", done.stderr)
    assert match is not None, done.stderr[-500:]
    return int(match.group(1))


def instructions(content: str) -> None:
    """Per-batch instructions of the sandbox process and of the transform's own JavaScript (callgrind)."""
    if shutil.which("valgrind") is None:
        print("  instructions: valgrind is not installed (apt-get install valgrind)")
        return
    few, many = 10, 60
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        counts = {}
        for n in (few, many):
            frames = workdir / f"{n}.frames"
            with frames.open("wb") as out:
                for i in range(n):
                    request = RunRequest(
                        id=i,
                        code=CODE,
                        content=content,
                        source={"source": "test"},
                        filename="content.json",
                        options={},
                        timeout_ms=2000,
                        memory_limit_mb=256,
                    )
                    out.write(frame(request))
            sandbox = callgrind([sys.executable, "-m", "engine.sandbox.runner"], frames, workdir, f"sandbox{n}")
            script = workdir / "loop.py"
            script.write_text(
                "import sys\nfrom py_mini_racer import MiniRacer\n"
                f"c = MiniRacer()\nc.eval({CODE!r})\nf = c.eval({JS_LOOP!r})\n"
                f"f(open(sys.argv[1]).read(), {n})\n"
            )
            (workdir / "content.json").write_text(content)
            js = callgrind([sys.executable, str(script), str(workdir / "content.json")], None, workdir, f"js{n}")
            counts[n] = (sandbox, js)
    sandbox_per = (counts[many][0] - counts[few][0]) / (many - few)
    js_per = (counts[many][1] - counts[few][1]) / (many - few)
    print(f"  instructions per batch (callgrind, independent of load): sandbox process {sandbox_per / 1e6:.2f} M")
    rest = (sandbox_per - js_per) / 1e6
    print(f"    of which the transform's own JavaScript: {js_per / 1e6:.2f} M; the rest: {rest:.2f} M")


def standard(content: str, runs: int) -> None:
    times: list[float] = []
    payload = content.encode()
    for _ in range(runs):
        started = time.perf_counter()
        transform_content("time-values-to-oianalytics", {}, "time-values", payload)
        times.append((time.perf_counter() - started) * 1000)
    print(f"standard time-values-to-oianalytics, same batch: median {statistics.median(times):.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS, help="round trips measured")
    parser.add_argument("--instructions", action="store_true", help="also count instructions with callgrind")
    args = parser.parse_args()
    content = batch()
    asyncio.run(round_trips(content, args.runs))
    if args.instructions:
        instructions(content)
    standard(content, args.runs)
    print(f"machine while measuring: {load()}")


if __name__ == "__main__":
    main()
