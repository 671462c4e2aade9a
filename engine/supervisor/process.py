"""Stopping a process tree, written once: stop frame, wait, terminate, wait, kill (Windows: frame, kill).

No other module sends signals to processes.
"""

from __future__ import annotations

import asyncio
import sys

import psutil

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    from engine.supervisor._windows import terminate_tree
else:
    from engine.supervisor._posix import terminate_tree


async def wait_exit(proc: asyncio.subprocess.Process, timeout_s: float) -> bool:
    """Wait up to ``timeout_s`` for ``proc`` to exit; tell whether it did."""
    try:
        await asyncio.wait_for(proc.wait(), timeout_s)
    except TimeoutError:
        return False
    return True


async def escalate_stop(proc: asyncio.subprocess.Process, stop_timeout_s: float) -> None:
    """After a stop frame was sent: wait, then terminate (POSIX only), wait, then kill the whole tree."""
    if await wait_exit(proc, stop_timeout_s):
        return
    if sys.platform != "win32":
        terminate_tree(proc.pid, kill=False)
        if await wait_exit(proc, stop_timeout_s):
            return
    kill_tree(proc.pid)
    await wait_exit(proc, stop_timeout_s)


def kill_tree(pid: int) -> None:
    """Kill ``pid`` and every descendant at once (used for hung or runaway workers)."""
    terminate_tree(pid, kill=True)


def memory_of(pid: int) -> int | None:
    """Resident memory of ``pid`` in bytes, or ``None`` if it is gone."""
    try:
        rss: int = psutil.Process(pid).memory_info().rss
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return rss
