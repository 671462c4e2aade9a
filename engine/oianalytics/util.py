"""Small helpers of the OIAnalytics agent: waiting on an event with a timeout, logging reachability changes."""

from __future__ import annotations

import asyncio
import contextlib

import structlog

log = structlog.get_logger(__name__)


async def wait_event(event: asyncio.Event, timeout_s: float) -> None:
    """Wait for ``event`` at most ``timeout_s`` seconds."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout_s)


class Reachability:
    """Logs once when OIAnalytics becomes unreachable for a purpose, and once when it is back."""

    def __init__(self, purpose: str) -> None:
        self.purpose = purpose
        self.failing = False

    def failed(self, error: Exception) -> None:
        """A request failed."""
        if not self.failing:
            log.warning("oianalytics_unreachable", purpose=self.purpose, error=str(error))
            self.failing = True

    def succeeded(self) -> None:
        """A request succeeded."""
        if self.failing:
            log.info("oianalytics_reachable_again", purpose=self.purpose)
            self.failing = False
