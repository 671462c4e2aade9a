"""Operator actions on a North cache (search, view content, remove and move), wherever the cache is open.

A running North's worker owns its cache and runs these on its open ``NorthCache``; for a North that has no
worker (disabled), the engine opens the cache folder with a ``NorthStore`` of its own and runs the very same
code (``offline``). Only one of them ever has the folder open: the engine does not start a worker while it
holds the folder. Only stdlib, msgspec and ``engine.cache`` are imported: this runs inside worker processes too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import msgspec

from engine.cache.north.store import NorthStore
from engine.cache.north.types import FOLDERS, CacheEntry, CacheLogger, Folder

CACHE_METHODS = frozenset({"cache_search", "cache_content", "cache_update"})
"""The worker request methods of ``/api/north/{id}/cache/...``."""

DRAIN_METHOD = "cache_drain"
"""The worker request that sends a North's whole queue now (a history query whose South read everything)."""


CacheFolder = Literal["cache", "error", "archive"]


class CacheMove(msgspec.Struct, frozen=True, kw_only=True):
    """Move the entry ``filename`` into the folder ``to``."""

    filename: str
    to: CacheFolder


class CacheFolderUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """What to do in one folder: entry names to remove, entries to move elsewhere."""

    remove: list[str] = []
    move: list[CacheMove] = []


class CacheContentUpdateCommand(msgspec.Struct, frozen=True, kw_only=True):
    """Upstream's ``CacheContentUpdateCommand``: removals first, then moves, folder by folder."""

    cache: CacheFolderUpdate = CacheFolderUpdate()
    error: CacheFolderUpdate = CacheFolderUpdate()
    archive: CacheFolderUpdate = CacheFolderUpdate()


class OperableCache(Protocol):
    """What the operations need of a cache (``NorthCache`` and ``NorthStore`` both have it)."""

    async def search(
        self,
        folder: Folder,
        *,
        name_contains: str | None = None,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        max_results: int = 1000,
    ) -> list[CacheEntry]:
        """List entries of a folder."""
        ...

    async def remove(self, folder: Folder, names: Iterable[str]) -> int:
        """Delete entries."""
        ...

    async def move(self, source: Folder, names: Iterable[str], target: Folder, /) -> int:
        """Move entries between folders."""
        ...


async def run_operation(cache: OperableCache, method: str, params: dict[str, Any]) -> Any:
    """Run one of ``CACHE_METHODS`` on an open cache."""
    if method == "cache_search":
        return await _search(cache, params)
    if method == "cache_content":
        return await _content(cache, params)
    if method == "cache_update":
        return await _update(cache, params)
    raise ValueError(f"unknown cache operation {method!r}")


async def offline(
    data_folder: Path,
    north_id: str,
    method: str,
    params: dict[str, Any],
    *,
    logger: CacheLogger,
    folder_name: str | None = None,
) -> Any:
    """Run an operation on the cache folder of a North that no worker has open (open, run, close).

    ``folder_name`` defaults to ``north-<id>`` (a history query's North: ``history-<id>/north``).
    """
    store = NorthStore(data_folder, folder_name or f"north-{north_id}", logger=logger, io_threads=2)
    await store.open()
    try:
        return await run_operation(store, method, params)
    finally:
        await store.close()


class OfflineCaches:
    """The engine's own access to the cache folders of Norths without a worker, one lock per North.

    The lock is held while the engine works on a folder; the engine takes it too before it spawns the
    North's worker, and until a stopping worker has closed the cache: the folder is never open twice.
    """

    def __init__(self, data_folder: Path) -> None:
        self.data_folder = data_folder
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, north_id: str) -> asyncio.Lock:
        """The lock of ``north_id``'s cache folder."""
        return self._locks.setdefault(north_id, asyncio.Lock())

    async def run(
        self,
        north_id: str,
        method: str,
        params: dict[str, Any],
        timeout_s: float,
        *,
        logger: CacheLogger,
        folder_name: str | None = None,
    ) -> Any:
        """``offline`` within ``timeout_s`` (hold ``lock(north_id)``); an unusable folder is a ``RuntimeError``."""
        try:
            async with asyncio.timeout(timeout_s):
                return await offline(self.data_folder, north_id, method, params, logger=logger, folder_name=folder_name)
        except OSError as err:
            raise RuntimeError(f"cannot work on the cache folder of North {north_id}: {err}") from err


async def _search(cache: OperableCache, params: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Entries of each folder whose name or logical file name contains ``nameContains`` (any case).

    ``start <= createdAt < end`` when given; at most ``maxNumberOfFilesReturned`` per folder (0 = all).
    """
    fragment = str(params.get("nameContains") or "").casefold()
    limit = int(params.get("maxNumberOfFilesReturned") or 0)
    found: dict[str, list[dict[str, Any]]] = {}
    for folder in FOLDERS:
        entries = await cache.search(folder, start=params.get("start"), end=params.get("end"), max_results=0)
        if fragment:
            entries = [e for e in entries if fragment in e.name.casefold() or fragment in e.content_file.casefold()]
        found[folder] = [described(entry) for entry in (entries[:limit] if limit else entries)]
    return found


async def _content(cache: OperableCache, params: dict[str, Any]) -> dict[str, Any] | None:
    """The first ``maxBytes`` of one entry's content with its metadata; ``None`` when there is no such entry."""
    folder: Folder = params["folder"]
    name = str(params["filename"])
    matches = await cache.search(folder, name_contains=name, max_results=0)
    entry = next((candidate for candidate in matches if candidate.name == name), None)
    if entry is None:
        return None
    limit = int(params.get("maxBytes") or 0)
    try:
        data = await asyncio.to_thread(_read_head, entry.content_path, limit)
    except FileNotFoundError:
        return None  # Sent, moved or removed since the search: the same as never there.
    return {**described(entry), "content": data, "truncated": bool(limit) and entry.content_size > limit}


async def _update(cache: OperableCache, params: dict[str, Any]) -> dict[str, int]:
    """Remove, then move entries: ``{folder: {"remove": [name], "move": [{"filename", "to"}]}}`` (upstream order).

    Unknown names are skipped; returns how many entries were removed and moved.
    """
    removed = moved = 0
    for folder in FOLDERS:
        names = (params.get(folder) or {}).get("remove") or []
        if names:
            removed += await cache.remove(folder, names)
    for folder in FOLDERS:
        targets: dict[Folder, list[str]] = {}
        for operation in (params.get(folder) or {}).get("move") or []:
            targets.setdefault(operation["to"], []).append(operation["filename"])
        for target, names in targets.items():
            moved += await cache.move(folder, names, target)
    return {"removed": removed, "moved": moved}


def described(entry: CacheEntry) -> dict[str, Any]:
    """An entry as the cache API lists it: its name (``filename``, upstream's word) and its metadata."""
    return {
        "filename": entry.name,
        "contentFile": entry.content_file,
        "contentSize": entry.content_size,
        "numberOfElement": entry.number_of_element,
        "createdAt": entry.created_at,
        "contentType": entry.content_type,
    }


def _read_head(path: Path, limit: int) -> bytes:
    """The first ``limit`` bytes of a file (all of it when ``limit`` is 0)."""
    with path.open("rb") as file:
        return file.read(limit) if limit else file.read()
