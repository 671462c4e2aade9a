"""Samples of the engine process and its workers, mapped onto upstream's Node engine metrics (psutil).

Node reports the memory of one process that runs everything. Ours is a tree (the engine and one worker per
connector), so the names map as follows:

- ``Rss``: resident memory of the engine process alone.
- ``HeapTotal``: resident memory of the whole tree (engine plus every worker).
- ``HeapUsed``: private memory of the whole tree (resident minus shared pages on Linux, private bytes on
  Windows, resident elsewhere): what OIBus itself holds, shared libraries left out.
- ``External``: resident memory of the workers alone.
- ``ArrayBuffers``: always 0. Python has no counterpart to Node's pool of buffers; the field stays so the
  shape matches upstream.

CPU is the engine process's: ``processCpuUsageInstant`` is the share of one core used since the previous
sample, ``processCpuUsageAverage`` the share since the process started (both 0..1 per core, as upstream).
``freeMemory`` is the memory available to new processes, ``totalMemory`` the physical memory (bytes).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psutil


@dataclass(frozen=True, slots=True)
class ProcessSample:
    """One reading of the engine process tree."""

    cpu_instant: float
    cpu_average: float
    uptime_ms: int
    free_memory: int
    total_memory: int
    memory: dict[str, int]
    """``Rss``, ``HeapTotal``, ``HeapUsed``, ``External``, ``ArrayBuffers`` in bytes."""


def _private(info: object) -> int:
    """Memory a process does not share with others, from a ``memory_info()`` result."""
    private = getattr(info, "private", None)  # Windows
    if isinstance(private, int):
        return private
    rss: int = getattr(info, "rss", 0)
    shared = getattr(info, "shared", None)  # Linux
    return rss - shared if isinstance(shared, int) else rss


class ProcessSampler:
    """Reads the engine process (``pid``, default this one) and its descendants; blocking, run it in a thread."""

    def __init__(self, pid: int | None = None) -> None:
        self._process = psutil.Process(pid)
        self._created = self._process.create_time()
        times = self._process.cpu_times()
        self._last_cpu = times.user + times.system
        self._last_at = time.monotonic()

    def sample(self) -> ProcessSample:
        """Read the tree now."""
        with self._process.oneshot():
            times = self._process.cpu_times()
            own = self._process.memory_info()
        now = time.monotonic()
        cpu = times.user + times.system
        elapsed = now - self._last_at
        instant = (cpu - self._last_cpu) / elapsed if elapsed > 0 else 0.0
        self._last_cpu, self._last_at = cpu, now
        uptime_s = max(time.time() - self._created, 1e-3)
        workers_rss = workers_private = 0
        for child in self._process.children(recursive=True):
            try:
                info = child.memory_info()
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue  # a worker that just exited
            workers_rss += info.rss
            workers_private += _private(info)
        virtual = psutil.virtual_memory()
        return ProcessSample(
            cpu_instant=round(max(instant, 0.0), 4),
            cpu_average=round(cpu / uptime_s, 4),
            uptime_ms=round(uptime_s * 1000),
            free_memory=virtual.available,
            total_memory=virtual.total,
            memory={
                "Rss": own.rss,
                "HeapTotal": own.rss + workers_rss,
                "HeapUsed": _private(own) + workers_private,
                "External": workers_rss,
                "ArrayBuffers": 0,
            },
        )
