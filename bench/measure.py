"""What the bench scripts measure about themselves: this process's peak USS, and the machine's load.

Imported by the scripts of this folder (``from measure import OwnUss, uptime``; a script's folder is on
``sys.path`` when it runs).
"""

from __future__ import annotations

import subprocess
import threading
from types import TracebackType

import psutil


class OwnUss:
    """``with OwnUss() as uss:`` samples this process's unique set size every 100 ms; ``uss.peak`` in bytes."""

    def __init__(self) -> None:
        self._me = psutil.Process()
        self.peak = self._me.memory_full_info().uss
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(0.1):
            self.peak = max(self.peak, self._me.memory_full_info().uss)

    def __enter__(self) -> OwnUss:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._done.set()
        self._thread.join()


def uptime() -> str:
    """The machine's ``uptime`` line (its load averages)."""
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
