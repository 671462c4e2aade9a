"""State machine of the engine process as the launcher sees it."""

from __future__ import annotations

from enum import Enum


class EngineState(Enum):
    """States of the supervised engine; ``recoverable`` tells whether the launcher retries by itself."""

    STOPPED = ("STOPPED", True)
    """Not running: the launcher is about to exit."""
    STARTING = ("STARTING", True)
    """Spawned; not yet up for the stability window."""
    RUNNING = ("RUNNING", True)
    """Up for longer than the stability window: the crash counter is reset."""
    BACKOFF = ("BACKOFF", True)
    """Exited; waiting before the next start."""
    STOPPING = ("STOPPING", True)
    """Stop requested: SIGTERM forwarded, waiting, then kill."""
    FATAL = ("FATAL", False)
    """Too many crashes in a row even in safe mode, or a damaged configuration: the launcher gives up."""

    def __init__(self, label: str, recoverable: bool) -> None:
        self.label = label
        self.recoverable = recoverable
