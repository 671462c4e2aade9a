"""POSIX branch of the stop escalation: SIGTERM, then SIGKILL, to the process and its descendants."""

from __future__ import annotations

import psutil


def terminate_tree(pid: int, *, kill: bool) -> None:
    """Send SIGTERM (or SIGKILL when ``kill``) to ``pid`` and its children."""
    try:
        root = psutil.Process(pid)
        procs = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        try:
            if kill:
                proc.kill()
            else:
                proc.terminate()
        except psutil.NoSuchProcess:
            continue
