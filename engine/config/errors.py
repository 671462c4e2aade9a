"""Errors of the configuration store (the REST layer maps each to an HTTP status)."""

from __future__ import annotations

from connectors.errors import OIBusError, SettingsError

__all__ = ["ConfigError", "NotFoundError", "RefusedError", "SettingsError"]


class ConfigError(OIBusError):
    """The configuration store cannot do what was asked."""


class NotFoundError(ConfigError, LookupError):
    """No such scan mode, connector, item, group or transformer."""


class RefusedError(ConfigError, ValueError):
    """A valid request the configuration forbids (deleting a scan mode in use, editing a fixed one)."""
