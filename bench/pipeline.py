"""End-to-end pipeline benchmarks against REAL engine processes on loopback; prints its figures.

    .venv/bin/python bench/pipeline.py                      # full sizes (10,000 files, 500,000 values, ...)
    .venv/bin/python bench/pipeline.py --files 2000 --values 100000 --ready-runs 2 --items 2000
    .venv/bin/python bench/pipeline.py --only files,memory

Figures (each labelled with its unit):
  files     folder-scanner -> file-writer, N small files, from the South creation until the N-th file is in the
            output folder and the input folder is empty (North disk cache fsynced: the default).
  values    POST /api/content/content time-values (batches, concurrent keep-alive clients) -> file-writer North
            subscribed to the oibus-api data source: ingestion rate (every POST answered 204) and end-to-end
            rate (every value written in the output JSON files).
  memory    engine + an idle folder-scanner South + an idle file-writer North: PSS/USS/RSS per process, total.
  ready     spawn ``python -m engine`` to the first answer of GET /api/engine/status (fresh / existing folder).
  items     POST /api/south with a 10,000-item folder-scanner on the real engine (disabled: API + store only).

Every run uses temporary folders and stops (then kills, if need be) every process it started, also on Ctrl-C.
This is a benchmark, not a test: it asserts nothing about timings.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from engine_process import (  # noqa: E402
    AUTH,
    EngineProcess,
    announced_ports,
    folder_scanner_body,
    north_body,
    scan_mode_id,
    wait_for,
)

MIB = 1024 * 1024
SUMMARY: list[tuple[str, str, str, str]] = []  # (figure, value, unit, target)


# --- process bookkeeping ---------------------------------------------------------------------------------


class Fleet:
    """Every engine this script started; ``close`` stops them (SIGTERM, then SIGKILL) with their workers."""

    def __init__(self) -> None:
        self.engines: list[EngineProcess] = []
        self.raw: list[subprocess.Popen[bytes]] = []

    def engine(self, data_dir: Path, log_level: str) -> EngineProcess:
        engine = EngineProcess(data_dir, log_level=log_level)
        self.engines.append(engine)
        engine.start(timeout_s=60)
        return engine

    def stop(self, engine: EngineProcess, timeout_s: float = 20.0) -> None:
        """Graceful stop of one engine and its workers (only pids of its own tree are ever signalled)."""
        _stop_tree(engine.proc, timeout_s)
        if engine in self.engines:
            self.engines.remove(engine)

    def close(self) -> None:
        for engine in list(self.engines):
            with contextlib.suppress(Exception):
                self.stop(engine, timeout_s=10)
        for proc in list(self.raw):
            with contextlib.suppress(Exception):
                _stop_tree(proc, 10)
        self.raw.clear()


def _stop_tree(proc: subprocess.Popen[bytes] | None, timeout_s: float) -> None:
    if proc is None:
        return
    try:
        root = psutil.Process(proc.pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        tree = []
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    # Workers exit when the engine's pipes close; give them a moment, then kill whatever is left of the tree.
    _, alive = psutil.wait_procs(tree[1:], timeout=5)
    for child in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    psutil.wait_procs(alive, timeout=5)


def _on_sigterm(signum: int, frame: Any) -> None:
    del signum, frame
    raise KeyboardInterrupt


# --- helpers -----------------------------------------------------------------------------------------------


def file_writer_body(name: str, output_dir: Path, scan_mode: str, **caching: Any) -> dict[str, Any]:
    settings = {"outputFolder": str(output_dir), "prefix": "", "suffix": ""}
    body: dict[str, Any] = north_body(name, "file-writer", settings, scan_mode, **caching)
    return body


def visible_files(folder: Path) -> Iterator[os.DirEntry[str]]:
    """Entries of ``folder`` but hidden ones (the file-writer's ``.oibus-*.tmp`` in progress)."""
    with os.scandir(folder) as entries:
        for entry in entries:
            if not entry.name.startswith("."):
                yield entry


def count_files(folder: Path) -> int:
    return sum(1 for _ in visible_files(folder))


def folder_empty(folder: Path) -> bool:
    with os.scandir(folder) as entries:
        return next(entries, None) is None


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.05) -> None:
    wait_for(predicate, timeout_s, f"timed out after {timeout_s:.0f} s waiting for {what}", poll_s)


def label(proc: psutil.Process, engine_pid: int) -> str:
    if proc.pid == engine_pid:
        return "engine"
    try:
        cmd = proc.cmdline()
    except psutil.Error:
        return f"pid {proc.pid}"
    if "engine.worker" in cmd and cmd.index("engine.worker") + 1 < len(cmd):
        key = cmd[cmd.index("engine.worker") + 1]
        kind, _, ident = key.partition(":")
        return f"worker {kind}:{ident[:8]}"
    return f"pid {proc.pid} {' '.join(cmd[:3])}"


@dataclass
class CpuWatch:
    """CPU seconds (user + system) of the engine tree, this script and the whole machine between two points."""

    engine: EngineProcess
    before: dict[int, tuple[str, float, float]] = field(default_factory=dict)
    own_before: tuple[float, float] = (0.0, 0.0)
    sys_before: Any = None
    started: float = 0.0

    def _sample(self) -> dict[int, tuple[str, float, float]]:
        out: dict[int, tuple[str, float, float]] = {}
        assert self.engine.proc is not None
        for proc in self.engine.tree():
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                out[proc.pid] = (label(proc, self.engine.proc.pid), times.user, times.system)
        return out

    def start(self) -> CpuWatch:
        self.before = self._sample()
        own = psutil.Process().cpu_times()
        self.own_before = (own.user, own.system)
        self.sys_before = psutil.cpu_times()
        self.started = time.monotonic()
        return self

    def report(self, units: int = 0, unit: str = "", indent: str = "    ") -> list[str]:
        wall = time.monotonic() - self.started
        cpus = psutil.cpu_count() or 1
        after = self._sample()
        own = psutil.Process().cpu_times()
        sys_after = psutil.cpu_times()
        lines = [f"{indent}CPU split over {wall:.2f} s wall ({cpus} CPUs = {wall * cpus:.2f} CPU-s available):"]
        total = 0.0
        for pid, (name, user, system) in sorted(after.items(), key=lambda kv: kv[1][0]):
            user0, system0 = self.before.get(pid, (name, 0.0, 0.0))[1:]
            spent_user, spent_sys = user - user0, system - system0
            total += spent_user + spent_sys
            lines.append(
                f"{indent}  {name:<24} {spent_user + spent_sys:7.2f} CPU-s  "
                f"(user {spent_user:6.2f}, sys {spent_sys:6.2f})"
                f"  = {100 * (spent_user + spent_sys) / wall:5.1f}% of one CPU"
            )
        own_spent = own.user + own.system - sum(self.own_before)
        lines.append(
            f"{indent}  {'bench script (client)':<24} {own_spent:7.2f} CPU-s  "
            f"= {100 * own_spent / wall:5.1f}% of one CPU"
        )
        per_unit = f"  = {total / units * 1e6:,.1f} CPU-us per {unit}" if units else ""
        lines.append(f"{indent}  {'engine tree total':<24} {total:7.2f} CPU-s{per_unit}")
        delta = {name: getattr(sys_after, name) - getattr(self.sys_before, name) for name in sys_after._fields}
        busy = sum(v for k, v in delta.items() if k not in ("idle", "iowait"))
        lines.append(
            f"{indent}  machine: busy {busy:.2f} CPU-s, idle {delta.get('idle', 0):.2f} CPU-s, "
            f"iowait {delta.get('iowait', 0):.2f} CPU-s ({100 * busy / (wall * cpus):.0f}% of all CPUs busy)"
        )
        return lines


def probe_folder(folder: Path, count: int = 200) -> str:
    """Latency of creating a small file, with and without fsync, where the benchmarks write (context only)."""
    probe = Path(tempfile.mkdtemp(prefix="probe-", dir=folder))
    data = b"x" * 1024
    try:
        started = time.perf_counter()
        for index in range(count):
            fd = os.open(probe / f"c{index}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, data)
            os.close(fd)
        create = (time.perf_counter() - started) / count
        started = time.perf_counter()
        for index in range(count):
            fd = os.open(probe / f"s{index}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            os.write(fd, data)
            os.fsync(fd)
            os.close(fd)
        synced = (time.perf_counter() - started) / count
    finally:
        shutil.rmtree(probe, ignore_errors=True)
    return (
        f"create 1 KiB file {create * 1e6:,.0f} us, create + fsync {synced * 1e6:,.0f} us "
        f"(serial fsync ceiling ~{1 / synced:,.0f} files/s)"
    )


def record(figure: str, value: str, unit: str, target: str = "") -> None:
    SUMMARY.append((figure, value, unit, target))


# --- 1. files/s --------------------------------------------------------------------------------------------


def bench_files(fleet: Fleet, tmp: Path, args: argparse.Namespace) -> None:
    count, size = args.files, args.file_size
    print(f"\n[1] folder-scanner -> file-writer: {count:,} files of {size} B (North cache on disk, fsynced)")
    base = tmp / "files"
    input_dir, output_dir = base / "input", base / "output"
    input_dir.mkdir(parents=True)
    output_dir.mkdir()
    payload = os.urandom(max(size - 16, 0))
    for index in range(count):
        (input_dir / f"f{index:06d}.bin").write_bytes(payload + f"{index:016d}".encode()[: size - len(payload)])
    os.sync()
    engine = fleet.engine(base / "data", args.log_level)
    every_second = scan_mode_id(engine, "Every second")
    north = engine.ok("POST", "/api/north", file_writer_body("files-out", output_dir, every_second))
    engine.wait_state("north", north["id"], "RUNNING")
    time.sleep(0.5)

    cpu = CpuWatch(engine).start()
    started = time.monotonic()
    south = engine.ok("POST", "/api/south", folder_scanner_body(input_dir, every_second, name="files-in"))
    first_out: float | None = None
    input_empty_at: float | None = None
    progress: list[tuple[float, int, int]] = []  # (time, files still in input, files in output)
    deadline = started + args.timeout
    while True:
        now = time.monotonic()
        if now > deadline:
            raise TimeoutError(
                f"files: {count_files(output_dir)} of {count} delivered after {args.timeout} s\n{engine.log()[-3000:]}"
            )
        delivered = count_files(output_dir)
        remaining = count_files(input_dir) if input_empty_at is None else 0
        if delivered and first_out is None:
            first_out = now - started
        if remaining == 0 and input_empty_at is None:
            input_empty_at = now - started
        if not progress or now - progress[-1][0] >= 1.0:
            progress.append((now, remaining, delivered))
        if delivered >= count and input_empty_at is not None and folder_empty(input_dir):
            break
        # Listing 10,000-entry folders costs the script (which shares the CPUs) a few ms: poll at 10 Hz.
        time.sleep(0.1)
    elapsed = time.monotonic() - started
    cpu_lines = cpu.report(count, "file")
    rate = count / elapsed
    print(f"    elapsed (South created -> {count:,} files out, input empty): {elapsed:.2f} s")
    print(
        f"    first file in output after: {first_out or 0:.2f} s;"
        f" input folder empty (every file acked by the North cache) after: {input_empty_at or 0:.2f} s"
        f" = {count / (input_empty_at or elapsed):,.0f} files/s into the cache"
    )
    print(f"    throughput: {rate:,.0f} files/s   (target >= 2,600 files/s; includes the wait for the first scan tick)")
    step = max(1, len(progress) // 15)
    curve = ", ".join(f"{t - started:.0f}s:{left}/{out}" for t, left, out in progress[::step])
    print(f"    over time (s: files left in input / files in output): {curve}")
    print("\n".join(cpu_lines))
    names = {entry.name for entry in visible_files(output_dir)}
    expected = {f"f{index:06d}.bin" for index in range(count)}
    print(f"    check: {len(names & expected):,} of {count:,} expected names in output, {len(names - expected)} others")
    state = engine.ok("GET", f"/api/south/{south['id']}").get("state")
    print(f"    South state at end: {json.dumps(state)[:200]}")
    record("files (folder-scanner -> file-writer)", f"{rate:,.0f}", "files/s", ">= 2,600")
    fleet.stop(engine)
    shutil.rmtree(base, ignore_errors=True)


# --- 2. time-values/s --------------------------------------------------------------------------------------


async def _post_all(url: str, bodies: list[bytes], clients: int) -> tuple[float, int, list[float]]:
    """POST every body with ``clients`` concurrent keep-alive sessions; returns (end time, retries, latencies)."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    retries = 0
    latencies: list[float] = []
    headers = {"Content-Type": "application/json", "Authorization": AUTH}
    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    timeout = aiohttp.ClientTimeout(total=300)

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal retries
        while True:
            try:
                body = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            while True:
                sent = time.monotonic()
                async with session.post(url, data=body, headers=headers) as response:
                    text = await response.read()
                    latencies.append(time.monotonic() - sent)
                    if response.status == 204:
                        break
                    if response.status == 503:
                        retries += 1
                        await asyncio.sleep(0.05)
                        continue
                    raise RuntimeError(f"POST -> {response.status}: {text[:500]!r}")

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(client(session) for _ in range(clients)))
    return time.monotonic(), retries, latencies


def _values_body(start: int, count: int) -> bytes:
    content = [
        {"pointId": f"p{index}", "timestamp": "2026-01-01T00:00:00.000Z", "data": {"value": index}}
        for index in range(start, start + count)
    ]
    return json.dumps({"type": "time-values", "content": content}, separators=(",", ":")).encode()


def bench_values(fleet: Fleet, tmp: Path, args: argparse.Namespace) -> None:
    total, batch, clients = args.values, args.batch, args.clients
    print(
        f"\n[2] POST /api/content/content -> file-writer: {total:,} time-values, batches of {batch:,}, "
        f"{clients} concurrent keep-alive clients (aiohttp)"
    )
    base = tmp / "values"
    output_dir = base / "output"
    output_dir.mkdir(parents=True)
    engine = fleet.engine(base / "data", args.log_level)
    every_second = scan_mode_id(engine, "Every second")
    rule = {"source": {"type": "oibus-api", "dataSourceId": "bench"}, "transformerId": "iso", "options": {}}
    north = engine.ok(
        "POST", "/api/north", file_writer_body("values-out", output_dir, every_second, transformers=[rule])
    )
    engine.wait_state("north", north["id"], "RUNNING")
    bodies = [_values_body(start, min(batch, total - start)) for start in range(0, total, batch)]
    payload_mib = sum(map(len, bodies)) / MIB
    url = f"{engine.url}/api/content/content?dataSourceId=bench"
    time.sleep(0.5)

    counted: dict[str, int] = {}
    written = 0

    def scan_output() -> int:
        nonlocal written
        for entry in visible_files(output_dir):
            if entry.name not in counted:
                # Cheap count while timing (the script shares the 2 CPUs): one "pointId" key per value.
                with open(entry.path, "rb") as handle:
                    counted[entry.name] = handle.read().count(b'"pointId"')
                written += counted[entry.name]
        return written

    cpu = CpuWatch(engine).start()
    started = time.monotonic()
    # The poster runs in a thread with its own event loop; this thread watches the output folder meanwhile.
    result: dict[str, Any] = {}

    def run_posts() -> None:
        try:
            result["ok"] = asyncio.run(_post_all(url, bodies, clients))
        except BaseException as err:
            result["error"] = err

    poster = threading.Thread(target=run_posts, name="poster", daemon=True)
    poster.start()
    deadline = started + args.timeout
    while True:
        if "error" in result:
            raise RuntimeError(f"values: posting failed: {result['error']!r}\n{engine.log()[-3000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"values: {written:,} of {total:,} written after {args.timeout} s\n{engine.log()[-3000:]}"
            )
        if scan_output() >= total and "ok" in result:
            break
        time.sleep(0.05)
    ended = time.monotonic()
    poster.join()
    posted_at, retries, latencies = result["ok"]
    cpu_lines = cpu.report(total, "value")
    ingest_s, e2e_s = posted_at - started, ended - started
    ingest_rate, e2e_rate = total / ingest_s, total / e2e_s
    latencies.sort()
    print(
        f"    request bodies: {len(bodies)} x ~{len(bodies[0]) / 1024:.0f} KiB "
        f"= {payload_mib:.1f} MiB JSON (pre-encoded)"
    )
    print(
        f"    ingestion (first POST -> every POST answered 204): {ingest_s:.2f} s = {ingest_rate:,.0f} values/s"
        f"   ({len(bodies) / ingest_s:,.0f} requests/s, 503 retries: {retries})"
    )
    print(
        f"    POST latency: median {statistics.median(latencies) * 1000:.1f} ms, "
        f"p95 {latencies[int(len(latencies) * 0.95) - 1] * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms"
    )
    print(
        f"    end-to-end (first POST -> every value in output files): {e2e_s:.2f} s = {e2e_rate:,.0f} values/s"
        f"   (target >= 300,000 values/s)"
    )
    print(
        f"    output: {len(counted)} JSON files, {written:,} values "
        f"(mean {written / max(len(counted), 1):,.0f} values/file)"
    )
    print("\n".join(cpu_lines))
    # Outside the timing: full decode, check every point arrived (duplicates allowed, loss not).
    seen: set[str] = set()
    for entry in visible_files(output_dir):
        seen.update(value["pointId"] for value in json.loads(Path(entry.path).read_bytes()))
    missing = total - len(seen & {f"p{index}" for index in range(total)})
    print(f"    check: {len(seen):,} distinct points written, {missing} missing, {written - len(seen):,} duplicates")
    record("time-values ingestion (all POSTs 204)", f"{ingest_rate:,.0f}", "values/s", "")
    record("time-values end-to-end (written)", f"{e2e_rate:,.0f}", "values/s", ">= 300,000")
    fleet.stop(engine)
    shutil.rmtree(base, ignore_errors=True)


# --- 3. memory ---------------------------------------------------------------------------------------------


def bench_memory(fleet: Fleet, tmp: Path, args: argparse.Namespace) -> None:
    print(
        "\n[3] memory: engine + idle folder-scanner South (empty folder) + idle file-writer North, "
        f"after {args.idle_s:.0f} s idle"
    )
    base = tmp / "memory"
    input_dir, output_dir = base / "input", base / "output"
    input_dir.mkdir(parents=True)
    output_dir.mkdir()
    engine = fleet.engine(base / "data", args.log_level)
    every_second = scan_mode_id(engine, "Every second")
    north = engine.ok("POST", "/api/north", file_writer_body("idle-out", output_dir, every_second))
    south = engine.ok("POST", "/api/south", folder_scanner_body(input_dir, every_second, name="idle-in"))
    engine.wait_state("north", north["id"], "RUNNING")
    engine.wait_state("south", south["id"], "RUNNING")
    time.sleep(args.idle_s)
    assert engine.proc is not None
    rows = []
    for proc in engine.tree():
        with contextlib.suppress(psutil.Error):
            info = proc.memory_full_info()
            rows.append((label(proc, engine.proc.pid), info.pss, info.uss, info.rss))
    print(f"    {'process':<24} {'PSS MiB':>9} {'USS MiB':>9} {'RSS MiB':>9}")
    for name, pss, uss, rss in rows:
        print(f"    {name:<24} {pss / MIB:9.1f} {uss / MIB:9.1f} {rss / MIB:9.1f}")
    pss_total = sum(r[1] for r in rows)
    print(
        f"    {'total':<24} {pss_total / MIB:9.1f} {sum(r[2] for r in rows) / MIB:9.1f} "
        f"{sum(r[3] for r in rows) / MIB:9.1f}"
    )
    print(f"    PSS total engine + workers: {pss_total / MIB:.1f} MiB = {pss_total / 1e6:.1f} MB   (target <= 100 MB)")
    record("memory PSS engine + 2 idle workers", f"{pss_total / MIB:.1f}", "MiB", "<= 100 MB (95.4 MiB)")
    for name, _, uss, rss in rows:
        if name.startswith("worker"):
            record(f"memory USS {name} (RSS {rss / MIB:.1f} MiB)", f"{uss / MIB:.1f}", "MiB", "<= 20 MB (19.1 MiB)")
        else:
            record(f"memory USS engine (RSS {rss / MIB:.1f} MiB)", f"{uss / MIB:.1f}", "MiB", "")
    fleet.stop(engine)
    shutil.rmtree(base, ignore_errors=True)


# --- 4. API ready time -------------------------------------------------------------------------------------


def _status_answers(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", "/api/engine/status")
        return 200 <= conn.getresponse().status < 300
    except OSError:
        return False
    finally:
        conn.close()


def _time_ready(fleet: Fleet, data_dir: Path, log_level: str) -> tuple[float, float]:
    """Seconds from spawn to the first 2xx of the status route, and the graceful stop time.

    The engine listens on the port the system assigns (port 0) and prints it; the clock runs until the
    status route answers on that port, so reading the line is inside the measured time.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    if not (data_dir / "oibus.db").exists():
        (data_dir / "oibus.init.json").write_text(json.dumps({"port": 0}))
    env = {**os.environ, "OIBUS_LOG_LEVEL": log_level}
    log_path = data_dir.parent / f"{data_dir.name}-engine.log"
    printed = log_path.stat().st_size if log_path.exists() else 0
    with log_path.open("ab") as log:
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "engine", "--config", str(data_dir)], stdout=log, stderr=subprocess.STDOUT, env=env
        )
    fleet.raw.append(proc)
    try:
        port: int | None = None
        while port is None or not _status_answers(port):
            if proc.poll() is not None:
                raise RuntimeError(f"engine exited with {proc.returncode}")
            if time.monotonic() - started > 60:
                raise TimeoutError("engine API not up after 60 s")
            if port is None:
                ports = announced_ports(log_path.read_bytes()[printed:].decode(errors="replace"))
                port = ports["http"] if ports else None
            time.sleep(0.005)
        ready = time.monotonic() - started
        stopping = time.monotonic()
        _stop_tree(proc, 20)
        return ready, time.monotonic() - stopping
    finally:
        fleet.raw.remove(proc)
        _stop_tree(proc, 10)


def bench_ready(fleet: Fleet, tmp: Path, args: argparse.Namespace) -> None:
    runs = args.ready_runs
    print(f"\n[4] API ready time: spawn `python -m engine` -> first 2xx of GET /api/engine/status ({runs} runs each)")
    base = tmp / "ready"
    base.mkdir()
    interp: list[float] = []
    for _ in range(runs):
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        interp.append(time.monotonic() - started)
    fresh, existing, stops = [], [], []
    for run in range(runs):
        ready, stop = _time_ready(fleet, base / f"fresh-{run}", args.log_level)
        fresh.append(ready)
        stops.append(stop)
    for _ in range(runs):  # the folder the first fresh run created: oibus.db, crypto.db, logs... all exist
        ready, stop = _time_ready(fleet, base / "fresh-0", args.log_level)
        existing.append(ready)
        stops.append(stop)
    print(f"    bare `python -c pass` (interpreter baseline): median {statistics.median(interp) * 1000:.0f} ms")
    for name, values in (("fresh data folder", fresh), ("existing data folder", existing)):
        print(
            f"    {name}: median {statistics.median(values):.3f} s, min {min(values):.3f} s, max {max(values):.3f} s"
            f"   (target <= 1 s)"
        )
    print(f"    graceful stop (SIGTERM -> exit), no connectors: median {statistics.median(stops):.3f} s")
    record("API ready, fresh data folder (median)", f"{statistics.median(fresh):.3f}", "s", "<= 1 s")
    record("API ready, existing data folder (median)", f"{statistics.median(existing):.3f}", "s", "<= 1 s")
    shutil.rmtree(base, ignore_errors=True)


# --- 5. 10k items through the API ---------------------------------------------------------------------------


def bench_items(fleet: Fleet, tmp: Path, args: argparse.Namespace) -> None:
    items, runs = args.items, 3
    print(
        f"\n[5] POST /api/south with a {items:,}-item folder-scanner on the real engine "
        f"(disabled: API + store), {runs} runs"
    )
    base = tmp / "items"
    engine = fleet.engine(base / "data", args.log_level)
    mode = scan_mode_id(engine, "Every second")
    timings: list[float] = []
    gets: list[float] = []

    def body(name: str, enabled: bool) -> dict[str, Any]:
        return {
            "name": name,
            "type": "folder-scanner",
            "enabled": enabled,
            "settings": {"inputFolder": str(base / "input")},
            "items": [
                {"name": f"item-{i}", "settings": {"regex": rf"^file-{i}\.csv$"}, "scanModeId": mode}
                for i in range(items)
            ],
        }

    for run in range(runs):
        started = time.monotonic()
        status, created = engine.request("POST", "/api/south", body(f"bench-{run}", False))
        timings.append(time.monotonic() - started)
        if status != 201:
            raise RuntimeError(f"POST /api/south -> {status} {created}; engine log tail:\n{engine.log()[-2500:]}")
        started = time.monotonic()
        engine.ok("GET", f"/api/south/{created['id']}")
        gets.append(time.monotonic() - started)
    # One enabled: until its worker is RUNNING with every item scheduled.
    enabled = body("bench-enabled", True)
    started = time.monotonic()
    created = engine.ok("POST", "/api/south", enabled)
    posted = time.monotonic() - started
    engine.wait_state("south", created["id"], "RUNNING", timeout_s=120)
    running = time.monotonic() - started
    print(
        f"    POST (disabled): median {statistics.median(timings):.3f} s, "
        f"min {min(timings):.3f} s, max {max(timings):.3f} s"
        f"   (target <= 5 s)"
    )
    print(f"    GET /api/south/<id> with {items:,} items: median {statistics.median(gets):.3f} s")
    print(f"    POST (enabled): answered in {posted:.3f} s, worker RUNNING after {running:.3f} s")
    record(f"{items:,}-item South POST (median)", f"{statistics.median(timings):.3f}", "s", "<= 5 s")
    fleet.stop(engine)
    shutil.rmtree(base, ignore_errors=True)


# --- main --------------------------------------------------------------------------------------------------

BENCHES = {
    "files": bench_files,
    "values": bench_values,
    "memory": bench_memory,
    "ready": bench_ready,
    "items": bench_items,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10_000, help="files for [1] (default 10,000)")
    parser.add_argument("--file-size", type=int, default=1024, help="bytes per file for [1] (default 1024)")
    parser.add_argument("--values", type=int, default=500_000, help="time-values for [2] (default 500,000)")
    parser.add_argument("--batch", type=int, default=1000, help="values per POST for [2] (default 1,000)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients for [2] (default 4)")
    parser.add_argument("--idle-s", type=float, default=3.0, help="idle time before measuring [3] (default 3 s)")
    parser.add_argument("--ready-runs", type=int, default=5, help="runs per case for [4] (default 5)")
    parser.add_argument("--items", type=int, default=10_000, help="items for [5] (default 10,000)")
    parser.add_argument("--only", default=",".join(BENCHES), help=f"comma-separated subset of {','.join(BENCHES)}")
    parser.add_argument("--timeout", type=float, default=600, help="give up on [1]/[2] after this many seconds")
    parser.add_argument("--log-level", default="info", help="OIBUS_LOG_LEVEL of the engines (default info)")
    parser.add_argument("--tmp", type=Path, default=None, help="parent of the temporary folder (default system tmp)")
    args = parser.parse_args()
    selected = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(selected) - set(BENCHES)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")

    signal.signal(signal.SIGTERM, _on_sigterm)
    fleet = Fleet()
    tmp = Path(tempfile.mkdtemp(prefix="oibus-bench-", dir=args.tmp))
    print(
        f"OIBus pipeline benchmarks — python {sys.version.split()[0]}, {psutil.cpu_count()} CPUs, "
        f"{psutil.virtual_memory().total / 2**30:.1f} GiB RAM, tmp {tmp}"
    )
    print(f"file system of {tmp}: {probe_folder(tmp)}")
    load = os.getloadavg()
    print(f"load average before start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (other processes skew every figure)")
    failed: list[str] = []
    try:
        for name in selected:
            try:
                BENCHES[name](fleet, tmp, args)
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as err:
                failed.append(name)
                print(f"    !! {name} failed: {type(err).__name__}: {err}"[:4000])
                fleet.close()
    except KeyboardInterrupt:
        print("\ninterrupted: stopping every process started")
        return 130
    finally:
        fleet.close()
        shutil.rmtree(tmp, ignore_errors=True)

    print("\nSummary")
    width = max((len(row[0]) for row in SUMMARY), default=10)
    print(f"  {'figure':<{width}}  {'value':>12}  {'unit':<9} target")
    for figure, value, unit, target in SUMMARY:
        print(f"  {figure:<{width}}  {value:>12}  {unit:<9} {target}")
    if failed:
        print(f"  failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
