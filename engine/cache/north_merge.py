"""Merging JSON-array entries: store-time coalescing of a group, send-time compaction of the queue.

Elements are copied as raw JSON (``msgspec.Raw``), never decoded into values and re-encoded, so every
element keeps its exact bytes and order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from engine.cache.north_disk import NorthDisk, WriteJob, default_content_file
from engine.cache.north_files import fsync_dir
from engine.cache.north_types import JSON_ARRAY_TYPES, CacheEntry, NewEntry

_RAW_ARRAY = msgspec.json.Decoder(list[msgspec.Raw])


@dataclass(slots=True)
class Merge:
    """Compaction output: the merged entry, an optional remainder, and the originals they replace."""

    merged: CacheEntry
    remainder: CacheEntry | None
    consumed: list[CacheEntry]
    skipped: list[str]


def coalesce(jobs: list[WriteJob], max_elements: int) -> None:
    """Fold the JSON-array entries of one group into one entry per content type, in order.

    Send-time compaction would merge them anyway; doing it before writing saves two file creations and
    fsyncs per entry, which is what limits small-entry throughput. A folded job points to the job that
    carries its elements (``stored_in``); members never exceed ``max_elements`` together (0 = no limit)
    and an entry is never split. Payloads that are not JSON arrays are left alone.
    """
    by_type: dict[str, list[tuple[WriteJob, list[msgspec.Raw]]]] = {}
    for job in jobs:
        new = job.entry
        if new.payload is None or new.filename is not None or new.content_type not in JSON_ARRAY_TYPES:
            continue
        try:
            items = _RAW_ARRAY.decode(new.payload)
        except (msgspec.DecodeError, msgspec.ValidationError):
            continue
        by_type.setdefault(new.content_type, []).append((job, items))
    for members in by_type.values():
        chunk: list[tuple[WriteJob, list[msgspec.Raw]]] = []
        count = 0
        for job, items in members:
            if chunk and max_elements and count + len(items) > max_elements:
                _fold(chunk)
                chunk, count = [], 0
            chunk.append((job, items))
            count += len(items)
        _fold(chunk)


def _fold(chunk: list[tuple[WriteJob, list[msgspec.Raw]]]) -> None:
    if len(chunk) < 2:
        return
    head = chunk[0][0]
    elements = [item for _, items in chunk for item in items]
    head.entry = NewEntry(
        content_type=head.entry.content_type, payload=msgspec.json.encode(elements), count=len(elements)
    )
    for job, _ in chunk[1:]:
        job.stored_in = head


def merge(
    disk: NorthDisk,
    head: CacheEntry,
    candidates: list[CacheEntry],
    max_elements: int,
    names: tuple[str, str],
    write: Callable[[WriteJob], None],
) -> Merge | None:
    """Concatenate the JSON arrays of ``head`` and ``candidates`` up to ``max_elements`` (0 = all).

    The merged entry (and the rest of a partly used entry) is written and made durable first, then the
    originals are deleted: a crash in between leaves duplicates, never a loss. Elements are copied as
    raw JSON, never re-encoded. Returns None when there is nothing to merge.
    """
    elements: list[msgspec.Raw] = []
    consumed: list[CacheEntry] = []
    skipped: list[str] = []
    rest: list[msgspec.Raw] = []
    rest_of: CacheEntry | None = None
    for entry in [head, *candidates]:
        try:
            items = _RAW_ARRAY.decode(entry.content_path.read_bytes())
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            if entry is head:
                return None
            # A broken entry is left in the queue: it will fail on its own and go to error/.
            skipped.append(entry.name)
            continue
        room = max_elements - len(elements) if max_elements else len(items)
        consumed.append(entry)
        if len(items) > room:
            elements.extend(items[:room])
            rest, rest_of = items[room:], entry
            break
        elements.extend(items)
        if max_elements and len(elements) >= max_elements:
            break
    if len(consumed) < 2:
        return None
    merged_job = _merge_job(names[0], head, elements)
    rest_job = _merge_job(names[1], rest_of, rest) if rest_of is not None else None
    jobs = [merged_job] if rest_job is None else [merged_job, rest_job]
    for job in jobs:
        write(job)
    try:
        failed = [job.reason for job in jobs if job.result is None]
        if failed:
            raise OSError(failed[0])
        fsync_dir(disk.content_dir("cache"))
        fsync_dir(disk.metadata_dir("cache"))
    except OSError:
        disk.drop_written(job.name for job in jobs if job.result is not None)
        raise
    originals = [entry.name for entry in consumed]
    disk.delete("cache", originals, own_contents=frozenset(originals))
    assert merged_job.result is not None
    return Merge(
        merged=merged_job.result,
        remainder=rest_job.result if rest_job is not None else None,
        consumed=consumed,
        skipped=skipped,
    )


def _merge_job(name: str, origin: CacheEntry, elements: list[msgspec.Raw]) -> WriteJob:
    # A custom logical name survives the merge; the default one follows the new entry name.
    custom = origin.content_file != default_content_file(origin.name, origin.content_type)
    new = NewEntry(
        content_type=origin.content_type,
        payload=msgspec.json.encode(elements),
        filename=origin.content_file if custom else None,
        count=len(elements),
    )
    return WriteJob(name=name, entry=new, created_at=origin.created_at, admit=False)
