"""North caching settings (upstream field names and defaults; times in ms unless noted)."""

from __future__ import annotations

from typing import Annotated

import msgspec

NonNegative = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]


class CacheTrigger(msgspec.Struct, frozen=True, kw_only=True, rename="camel", forbid_unknown_fields=False):
    """When to try sending: on each tick of ``scan_mode_id``, or as soon as a threshold is reached."""

    scan_mode_id: str
    scan_mode_name: str | None = None
    number_of_elements: NonNegative = 1000
    number_of_files: NonNegative = 1


class CacheThrottling(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """How fast and how much a North sends and keeps.

    ``run_min_delay`` ms between sends; ``max_size`` MB over cache+error+archive (0 = no limit);
    ``max_number_of_elements`` per sent batch (compaction limit, 0 = no limit).
    """

    run_min_delay: NonNegative = 200
    max_size: NonNegative = 0
    max_number_of_elements: NonNegative = 10000


class CacheError(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """What to do when a send fails.

    ``retry_interval`` ms between attempts; after ``retry_count`` failures an entry goes to ``error/``
    (unless the failure is retry-forever); ``retention_duration`` hours in ``error/`` (0 = forever).
    """

    retry_interval: NonNegative = 5000
    retry_count: NonNegative = 3
    retention_duration: NonNegative = 0


class CacheArchive(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Keep sent entries in ``archive/`` for ``retention_duration`` hours (0 = forever) when enabled."""

    enabled: bool = False
    retention_duration: NonNegative = 72


class CachingSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """The ``caching`` block of a North connector."""

    trigger: CacheTrigger
    throttling: CacheThrottling = CacheThrottling()
    error: CacheError = CacheError()
    archive: CacheArchive = CacheArchive()
