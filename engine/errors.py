"""Errors the engine's layers share (the REST layer and the OIAnalytics agent both raise them).

They sit below both ``engine.api`` and ``engine.oianalytics`` so neither imports the other for them;
``engine.api.errors`` maps each to its HTTP status.
"""

from __future__ import annotations

from connectors.errors import OIBusError


class TryAgainLater(OIBusError):
    """Valid, but not done now (a North could not store the content): 503 with ``Retry-After``.

    ``status`` replaces 503 for clients that retry only on other statuses (v2 OIBus senders: 500).
    """

    def __init__(self, message: str, *, status: int = 503) -> None:
        super().__init__(message)
        self.status = status
