"""The typed form of what ``Start``/``Reconfigure`` carry: the connector a worker runs.

On the wire it is a msgpack map (the engine's stored DTO, camelCase, secrets decrypted); the worker decodes
it once, at its boundary (``engine.worker.runner.decode_connector``), into ``ConnectorSpec`` and reads only
typed fields after that. Fields the worker does not use (audit fields, the group objects of items, the
North's subscriptions...) are ignored by the decoding. ``None`` means "the default": each default is defined
once, where it is applied (history windows: ``engine.history.windowing``; caching: ``engine.cache.settings``;
the connector's own settings and item settings: its manifest, through ``convert_settings``).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec


class Spec(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Base of the spec structs: upstream's camelCase names, unknown fields ignored."""


class ItemSpec(Spec, frozen=True, kw_only=True):
    """One item of a South: ``settings`` are typed by the manifest's ``item_settings`` in the worker.

    ``scan_mode_id`` is the effective scan mode (its group's for an item in a group). The history fields are
    the item's own (upstream 3.9): ``max_read_interval`` s, ``read_delay`` and the offsets ms.
    """

    id: str
    name: str
    enabled: bool = True
    settings: dict[str, Any] | None = None
    scan_mode_id: str | None = None
    group_id: str | None = None
    max_read_interval: int | None = None
    read_delay: int | None = None
    start_time_offset: int | None = None
    end_time_offset: int | None = None
    recovery_strategy: Literal["oldest", "newest"] | None = None


class HistorySpec(Spec, frozen=True, kw_only=True):
    """History mode (a history query's workers): read ``[start_time, end_time]`` (ISO-8601) once.

    ``test``: the worker only answers tests (its South reads nothing by itself).
    """

    start_time: str
    end_time: str
    max_read_interval: int | None = None
    read_delay: int | None = None
    test: bool = False


class ConnectorSpec(Spec, frozen=True, kw_only=True):
    """The connector a worker runs: identity, type, settings, items (South), caching (North), history mode.

    ``settings`` are typed by the manifest's ``settings`` struct in the worker; ``caching`` by
    ``engine.cache.settings.CachingSettings`` (a North's); ``extra`` is what the engine adds for some
    connectors (the OIAnalytics registration).
    """

    id: str
    name: str
    type: str
    settings: dict[str, Any] | None = None
    items: list[ItemSpec] = []
    caching: dict[str, Any] | None = None
    history: HistorySpec | None = None
    extra: dict[str, Any] | None = None
