"""The engine's read view of the configuration store: DTOs as plain dicts, secrets decrypted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from engine.config.errors import NotFoundError
from engine.config.store import ConfigStore

_LEVEL_ORDER = ["trace", "debug", "info", "warn", "error", "silent"]


ExtraSource = Callable[[str, dict[str, Any]], dict[str, Any] | None]
"""``(kind, dto) -> extra``: what a connector's worker gets in ``ConnectorContext.extra`` (None: nothing)."""


class StoreConfigSource:
    """Implements ``engine.engine.ConfigSource`` on top of ``ConfigStore``.

    ``extra`` sources fill a DTO's ``extra`` key (the OIAnalytics agent gives its connectors the registration).
    """

    def __init__(self, store: ConfigStore) -> None:
        self.store = store
        self.extra: list[ExtraSource] = []

    def _with_extra(self, kind: str, dto: dict[str, Any]) -> dict[str, Any]:
        for source in self.extra:
            found = source(kind, dto)
            if found:
                dto["extra"] = {**dto.get("extra", {}), **found}
        return dto

    def engine_name(self) -> str:
        """The engine name."""
        return self.store.engine_settings().general.name

    def worker_log_level(self) -> str:
        """The most verbose level of any log sink (workers need not ship records nobody keeps)."""
        logger = self.store.engine_settings().logger
        levels = [
            logger.console.level,
            logger.file.level,
            logger.database.level,
            logger.loki.level,
            logger.oia.level,
            logger.syslog.level,
        ]
        return min(levels, key=lambda level: _LEVEL_ORDER.index(level) if level in _LEVEL_ORDER else 99)

    def scan_modes(self) -> dict[str, str]:
        """Scan mode id → cron."""
        return {mode.id: mode.cron for mode in self.store.list_scan_modes()}

    def souths(self) -> list[dict[str, Any]]:
        """Every South, whole."""
        return [found for light in self.store.list_souths() if (found := self.south(light.id)) is not None]

    def norths(self) -> list[dict[str, Any]]:
        """Every North, whole."""
        return [found for light in self.store.list_norths() if (found := self.north(light.id)) is not None]

    def south(self, south_id: str) -> dict[str, Any] | None:
        """One South for its worker; each item also carries ``scanModeId`` and ``groupId``."""
        try:
            dto: dict[str, Any] = msgspec.to_builtins(self.store.get_south(south_id))
        except NotFoundError:
            return None
        for item in dto.get("items") or []:
            item["scanModeId"] = (item.get("scanMode") or {}).get("id")
            item["groupId"] = (item.get("group") or {}).get("id")
        return self._with_extra("south", dto)

    def north(self, north_id: str) -> dict[str, Any] | None:
        """One North for its worker."""
        try:
            dto: dict[str, Any] = msgspec.to_builtins(self.store.get_north(north_id))
        except NotFoundError:
            return None
        return self._with_extra("north", dto)
