"""The navigation bar: one entry per top-level page, in order (a new page adds its line here)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NavEntry:
    """One link of the navigation bar: its catalogue key and its path."""

    key: str
    href: str


NAVIGATION: tuple[NavEntry, ...] = (
    NavEntry("nav.home", "/"),
    NavEntry("nav.engine", "/engine"),
    NavEntry("nav.scan_modes", "/scan-modes"),
    NavEntry("nav.south", "/south"),
    NavEntry("nav.north", "/north"),
    NavEntry("nav.history", "/history-queries"),
    NavEntry("nav.transformers", "/transformers"),
    NavEntry("nav.logs", "/logs"),
    NavEntry("nav.oianalytics", "/oianalytics"),
    NavEntry("nav.ip_filters", "/ip-filters"),
    NavEntry("nav.users", "/users"),
    NavEntry("nav.certificates", "/certificates"),
    NavEntry("nav.external_sources", "/external-sources"),
)
