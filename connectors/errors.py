"""The error hierarchy shared by connectors and the engine (each also inherits the matching builtin)."""

from __future__ import annotations


class OIBusError(Exception):
    """Base of every error OIBus raises on purpose."""


class SettingsError(OIBusError, ValueError):
    """Settings are invalid. ``errors`` maps a path (``items[3].settings.regex``) to its problem."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{path}: {problem}" for path, problem in errors.items()))


class ConnectorError(OIBusError):
    """A connector failed."""


class ConnectorNotReady(ConnectorError):
    """The connector could not start now but may later (peer down): the engine retries with backoff.

    ``retry_after_s`` is the pause its settings ask for before the next attempt (upstream's ``retryInterval``
    of the agent-based Souths); without it the engine's exponential backoff decides.
    """

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ConnectorFatal(ConnectorError):
    """The connector cannot run with these settings: retrying will not help."""


class ConnectorConnectionError(ConnectorError, ConnectionError):
    """The peer could not be reached or dropped the connection."""


class ConnectorAuthError(ConnectorError, PermissionError):
    """The peer refused the credentials (wrong password, unknown user): trying again with them cannot succeed.

    Not a ``ConnectionError``: the peer answered. A history query is ERRORED at once; a running South logs it
    and tries again at its next scan only (an operator may fix the account on the server meanwhile).
    """


class ConnectorTimeout(ConnectorError, TimeoutError):
    """The peer did not answer in time."""


class SendError(ConnectorError):
    """A North could not deliver a cache entry.

    ``retry_forever`` marks transient failures (network down, target busy) that never move the entry to
    ``error/``; other failures count towards the North's ``retryCount``.
    """

    def __init__(self, message: str, *, retry_forever: bool = False) -> None:
        super().__init__(message)
        self.retry_forever = retry_forever


class ContentRefused(ConnectorError):
    """The engine could not store a South's content in every target North: keep the data and retry later."""
