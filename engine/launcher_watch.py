"""The engine's side of the launcher contract: exit when the launcher dies, and one engine per data folder.

Killing only the launcher left the engine running, orphaned, and the next launcher's engine crash-looped on
"address already in use". The engine started by a launcher watches that process (psutil checks its pid and
start time, so a reused pid is not mistaken for it; the same on Linux and Windows) and stops gracefully
when it is gone; its workers follow when their pipes close. A lock file in the data folder lets a second
engine say plainly that the folder is in use, instead of failing later on a port.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path
from typing import IO

import psutil
import structlog

log = structlog.get_logger(__name__)

LOCK_FILE = "oibus.lock"


class DataFolderInUse(RuntimeError):
    """Another engine holds the data folder's lock."""


async def stop_when_parent_dies(stop: asyncio.Event, *, interval_s: float = 0.5) -> None:
    """Set ``stop`` once the process that started this one is gone; return when ``stop`` is set."""
    try:
        parent = psutil.Process(os.getppid())
    except psutil.NoSuchProcess:
        parent = None
    while not stop.is_set():
        if parent is None or not parent.is_running():
            log.warning("launcher_gone", fix="the engine stops; the service manager starts a new launcher")
            stop.set()
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)


def lock_data_folder(data_dir: Path) -> IO[bytes]:
    """Take the data folder's lock for the life of the process (keep the returned file open)."""
    handle = (data_dir / LOCK_FILE).open("a+b")
    try:
        if sys.platform == "win32":
            import msvcrt

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        handle.seek(0)
        holder = handle.read().decode(errors="replace").strip() or "unknown"
        handle.close()
        raise DataFolderInUse(
            f"the data folder {data_dir} is in use by another OIBus engine (pid {holder}); stop it first"
        ) from err
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()).encode())
    handle.flush()
    return handle
