"""Windows branch of the stop escalation: there is no graceful signal, so terminate means kill."""

from __future__ import annotations

import psutil


def terminate_tree(pid: int, *, kill: bool) -> None:
    """Kill ``pid`` and its children (``kill`` is ignored: TerminateProcess is the only option)."""
    del kill
    try:
        root = psutil.Process(pid)
        procs = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        return
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            continue
