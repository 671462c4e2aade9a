"""The state machine of a supervised worker process (supervisord's states, with the same meanings)."""

from __future__ import annotations

from enum import Enum


class WorkerState(Enum):
    """States of one worker; ``recoverable`` tells whether the supervisor will try again by itself."""

    STOPPED = ("STOPPED", True)
    """Not running because nobody asked it to (connector disabled or engine stopping)."""
    STARTING = ("STARTING", True)
    """Process spawned; waiting for its handshake and for the connector to start."""
    RUNNING = ("RUNNING", True)
    """Handshake done, connector started: content flows."""
    BACKOFF = ("BACKOFF", True)
    """Exited or failed to start; waiting before the next attempt (exponential, capped, jittered)."""
    STOPPING = ("STOPPING", True)
    """Stop requested: stop frame sent, then terminate, then kill."""
    EXITED = ("EXITED", True)
    """The process ended on its own; the supervisor decides between BACKOFF and STOPPED."""
    FATAL = ("FATAL", False)
    """Cannot run with its current settings; waits for a configuration change."""

    def __init__(self, label: str, recoverable: bool) -> None:
        self.label = label
        self.recoverable = recoverable
