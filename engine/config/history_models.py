"""History query models (upstream 3.9 ``HistoryQueryDTO`` / ``HistoryQueryCommandDTO``, reference §2.9).

A history query runs one South over a fixed ``[startTime, endTime]`` into one private North. Its South and
North settings are validated against their types' manifests by the store, as for connectors.
"""

from __future__ import annotations

from typing import Any, Literal

from engine.cache.settings import CacheTrigger, CachingSettings
from engine.config.models import Audited, ItemRef, Model, Name, NonEmpty, NonNegative, Positive, Text
from engine.history.windowing import DEFAULT_MAX_READ_INTERVAL_S, DEFAULT_READ_DELAY_MS

HistoryQueryStatus = Literal["PENDING", "RUNNING", "PAUSED", "FINISHED", "ERRORED"]
HISTORY_STATUSES: tuple[HistoryQueryStatus, ...] = ("PENDING", "RUNNING", "PAUSED", "FINISHED", "ERRORED")

DEFAULT_CACHING = CachingSettings(trigger=CacheTrigger(scan_mode_id="", number_of_elements=1000, number_of_files=1))
"""A history North sends as soon as one file or 1000 values wait (no scan mode needed)."""


class QueryTimeRange(Model, frozen=True, kw_only=True):
    """What a history query reads: ``[startTime, endTime]`` (ISO-8601) in ``maxReadInterval`` s windows."""

    start_time: NonEmpty
    end_time: NonEmpty
    max_read_interval: Positive = DEFAULT_MAX_READ_INTERVAL_S
    read_delay: NonNegative = DEFAULT_READ_DELAY_MS


class HistoryItemCommand(Model, frozen=True, kw_only=True):
    """One item of a history query (``HistoryQueryItemCommandDTO``)."""

    id: str | None = None
    name: Name
    enabled: bool = True
    settings: dict[str, Any]


class HistoryItemDTO(Audited, frozen=True, kw_only=True):
    """One stored item of a history query."""

    id: str
    name: str
    enabled: bool
    settings: dict[str, Any]


class HistoryItemSelector(Model, frozen=True, kw_only=True):
    """An item a history transformer applies to: by ``id``, or by ``name`` (items created in the same body)."""

    id: str | None = None
    name: str | None = None


class HistoryTransformerCommand(Model, frozen=True, kw_only=True):
    """One transformer of a history query's North (``northTransformers[]``) for the items it names.

    No item: every item of the query. 3.9 names the transformer ``transformerId``; a DTO sent back gives
    ``transformer.id``.
    """

    id: str | None = None
    transformer_id: str = ""
    transformer: dict[str, Any] | None = None
    options: dict[str, Any] = {}
    items: list[HistoryItemSelector] = []


class HistoryTransformerDTO(Model, frozen=True, kw_only=True):
    """A stored history transformer, its transformer shown whole (as a North's rule shows it)."""

    id: str
    transformer: Any
    options: dict[str, Any]
    items: list[ItemRef]


class HistoryQueryCommand(Model, frozen=True, kw_only=True):
    """What creates or replaces a history query; ``items`` left out keeps the stored ones."""

    name: Name
    description: Text = ""
    query_time_range: QueryTimeRange
    south_type: NonEmpty
    south_settings: dict[str, Any]
    north_type: NonEmpty
    north_settings: dict[str, Any]
    caching: CachingSettings = DEFAULT_CACHING
    items: list[HistoryItemCommand] | None = None
    north_transformers: list[HistoryTransformerCommand] = []


class HistoryQueryLightDTO(Audited, frozen=True, kw_only=True):
    """A history query in a list (no settings)."""

    id: str
    name: str
    description: str
    status: HistoryQueryStatus
    query_time_range: QueryTimeRange
    south_type: str
    north_type: str
    error: str | None = None
    """Why the query is ERRORED (the failing item and the driver's message, secrets masked); else null."""


class HistoryQueryDTO(HistoryQueryLightDTO, frozen=True, kw_only=True):
    """A whole history query (secrets blank when the API shows it)."""

    south_settings: dict[str, Any]
    north_settings: dict[str, Any]
    caching: CachingSettings
    items: list[HistoryItemDTO]
    north_transformers: list[HistoryTransformerDTO] = []


class HistoryStatusCommand(Model, frozen=True, kw_only=True):
    """``update-history-query-status`` (OIAnalytics) and its local equivalent."""

    status: HistoryQueryStatus
