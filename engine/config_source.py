"""The engine's read view of the configuration store: DTOs as plain dicts, secrets decrypted."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

import msgspec

from engine.config.errors import NotFoundError
from engine.config.store import ConfigStore
from engine.ipc import Start
from engine.scheduler.timing import Timing

if TYPE_CHECKING:
    from engine.config.history_models import HistoryQueryStatus

_LEVEL_ORDER = ["trace", "debug", "info", "warn", "error", "silent"]


ExtraSource = Callable[[str, dict[str, Any]], dict[str, Any] | None]
"""``(kind, dto) -> extra``: what a connector's worker gets in ``ConnectorContext.extra`` (None: nothing)."""


class ConfigSource(Protocol):
    """What the engine reads from the configuration store (connector DTOs with secrets decrypted)."""

    def engine_name(self) -> str:
        """The engine name (``general.name``)."""
        ...

    def worker_log_level(self) -> str:
        """Most verbose level any log sink wants, so workers do not ship records nobody keeps."""
        ...

    def scan_modes(self) -> dict[str, Timing]:
        """Scan mode id → when it ticks."""
        ...

    def souths(self) -> list[dict[str, Any]]:
        """Every South DTO (with items and groups)."""
        ...

    def norths(self) -> list[dict[str, Any]]:
        """Every North DTO."""
        ...

    def south(self, south_id: str) -> dict[str, Any] | None:
        """One South DTO, or None."""
        ...

    def north(self, north_id: str) -> dict[str, Any] | None:
        """One North DTO, or None."""
        ...

    def history_ids(self) -> list[str]:
        """Every history query id."""
        ...

    def history_query(self, history_id: str) -> dict[str, Any] | None:
        """One history query (secrets decrypted), or None."""
        ...

    def set_history_status(self, history_id: str, status: str, error: str | None = None) -> None:
        """Persist a status the engine decided (FINISHED, ERRORED with its ``error``)."""
        ...

    def custom_transformer(self, transformer_id: str) -> dict[str, Any] | None:
        """One custom transformer DTO (camelCase, its code included), or None."""
        ...


def start_message(config: ConfigSource, data_dir: Path, role: str, connector_id: str) -> Callable[[], Start]:
    """What the worker of a connector is started with, read from ``config`` at each spawn."""

    def build() -> Start:
        dto = config.south(connector_id) if role == "south" else config.north(connector_id)
        if dto is None:
            raise RuntimeError(f"{role} {connector_id} vanished")
        return Start(
            role=role,
            connector=dto,
            data_dir=str(data_dir),
            engine_name=config.engine_name(),
            log_level=config.worker_log_level(),
        )

    return build


class StoreConfigSource:
    """Implements ``ConfigSource`` on top of ``ConfigStore``.

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

    def scan_modes(self) -> dict[str, Timing]:
        """Scan mode id → when it ticks."""
        return {
            mode.id: Timing(type=mode.type, cron=mode.cron, interval=mode.interval, window=mode.activation_window)
            for mode in self.store.scan_modes.list_scan_modes()
        }

    def souths(self) -> list[dict[str, Any]]:
        """Every South, whole."""
        return [found for light in self.store.souths.list_souths() if (found := self.south(light.id)) is not None]

    def norths(self) -> list[dict[str, Any]]:
        """Every North, whole."""
        return [found for light in self.store.norths.list_norths() if (found := self.north(light.id)) is not None]

    def south(self, south_id: str) -> dict[str, Any] | None:
        """One South for its worker; each item also carries ``scanModeId`` and ``groupId``."""
        try:
            dto: dict[str, Any] = msgspec.to_builtins(self.store.souths.get_south(south_id))
        except NotFoundError:
            return None
        for item in dto.get("items") or []:
            item["scanModeId"] = (item.get("scanMode") or {}).get("id")
            item["groupId"] = (item.get("group") or {}).get("id")
        return self._with_extra("south", dto)

    def north(self, north_id: str) -> dict[str, Any] | None:
        """One North for its worker."""
        try:
            dto: dict[str, Any] = msgspec.to_builtins(self.store.norths.get_north(north_id))
        except NotFoundError:
            return None
        return self._with_extra("north", dto)

    def history_ids(self) -> list[str]:
        """Every history query id."""
        return [query.id for query in self.store.history_queries.list_history_queries()]

    def history_query(self, history_id: str) -> dict[str, Any] | None:
        """One history query for its workers (secrets decrypted)."""
        try:
            dto: dict[str, Any] = msgspec.to_builtins(self.store.history_queries.get_history_query(history_id))
        except NotFoundError:
            return None
        return dto

    def set_history_status(self, history_id: str, status: str, error: str | None = None) -> None:
        """Persist a status the engine decided (ERRORED: with why); a query deleted meanwhile is left alone."""
        with contextlib.suppress(NotFoundError):
            self.store.history_queries.set_history_status(history_id, cast("HistoryQueryStatus", status), error=error)

    def custom_transformer(self, transformer_id: str) -> dict[str, Any] | None:
        """One custom transformer (camelCase DTO, its code included), or ``None``."""
        found = self.store.custom_transformers.find_custom_transformer(transformer_id)
        return None if found is None else dict(msgspec.to_builtins(found))
