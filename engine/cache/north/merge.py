"""Merging JSON-array entries: store-time coalescing of a group, send-time compaction of the queue.

Elements are copied as raw JSON (``msgspec.Raw``), never decoded into values and re-encoded, so every
element keeps its exact bytes and order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from engine.cache.north.disk import NorthDisk, WriteJob, default_content_file
from engine.cache.north.files import fsync_dir
from engine.cache.north.types import JSON_ARRAY_TYPES, CacheEntry, NewEntry

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
        if (
            new.payload is None
            or new.filename is not None
            or new.folder != "cache"
            or new.content_type not in JSON_ARRAY_TYPES
        ):
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


@dataclass(slots=True)
class _Collected:
    """Elements of several entries, up to a limit: what both compaction and gathering start from."""

    elements: list[msgspec.Raw]
    consumed: list[CacheEntry]
    skipped: list[str]
    rest: list[msgspec.Raw]
    rest_of: CacheEntry | None


def _collect(head: CacheEntry, candidates: list[CacheEntry], max_elements: int) -> _Collected | None:
    """Read the JSON arrays of ``head`` and ``candidates`` in order, up to ``max_elements`` (0 = all).

    None when fewer than two entries would be merged (or ``head`` cannot be read).
    """
    collected = _Collected(elements=[], consumed=[], skipped=[], rest=[], rest_of=None)
    elements = collected.elements
    for entry in [head, *candidates]:
        try:
            items = _RAW_ARRAY.decode(entry.content_path.read_bytes())
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            if entry is head:
                return None
            # A broken entry is left in the queue: it will fail on its own and go to error/.
            collected.skipped.append(entry.name)
            continue
        room = max_elements - len(elements) if max_elements else len(items)
        collected.consumed.append(entry)
        if len(items) > room:
            elements.extend(items[:room])
            collected.rest, collected.rest_of = items[room:], entry
            break
        elements.extend(items)
        if max_elements and len(elements) >= max_elements:
            break
    return collected if len(collected.consumed) >= 2 else None


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
    collected = _collect(head, candidates, max_elements)
    if collected is None:
        return None
    merged_job = merge_job(names[0], head, msgspec.json.encode(collected.elements), len(collected.elements))
    rest_of = collected.rest_of
    rest_job = (
        merge_job(names[1], rest_of, msgspec.json.encode(collected.rest), len(collected.rest))
        if rest_of is not None
        else None
    )
    jobs = [merged_job] if rest_job is None else [merged_job, rest_job]
    write_durably(disk, jobs, write)
    originals = [entry.name for entry in collected.consumed]
    disk.delete("cache", originals, own_contents=frozenset(originals))
    assert merged_job.result is not None
    return Merge(
        merged=merged_job.result,
        remainder=rest_job.result if rest_job is not None else None,
        consumed=collected.consumed,
        skipped=collected.skipped,
    )


def write_durably(disk: NorthDisk, jobs: list[WriteJob], write: Callable[[WriteJob], None]) -> None:
    """Write entries into ``cache/`` and fsync its directories; raise ``OSError`` (leaving none) on failure."""
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


@dataclass(slots=True)
class Gathered:
    """Queued entries merged in memory only, to be sent as one: what compaction would write, unwritten.

    ``entry`` carries the merged bytes (``CacheEntry.data``). After a successful send, the ``consumed``
    entries are deleted, but ``rest_of``, whose last elements did not fit: ``rest`` (JSON array bytes,
    ``rest_count`` elements) is written as a new entry in its place first.
    """

    entry: CacheEntry
    consumed: list[CacheEntry]
    skipped: list[str]
    rest: bytes
    rest_count: int
    rest_of: CacheEntry | None


def gather(head: CacheEntry, candidates: list[CacheEntry], max_elements: int) -> Gathered | None:
    """Merge ``head`` and ``candidates`` in memory as :func:`merge` would on disk (runs in a thread)."""
    collected = _collect(head, candidates, max_elements)
    if collected is None:
        return None
    payload = msgspec.json.encode(collected.elements)
    metadata = msgspec.structs.replace(
        head.metadata, content_size=len(payload), number_of_element=len(collected.elements), checksum=None
    )
    # The head's name and folder: the merged content is sent on its behalf and is never a file of its own.
    entry = CacheEntry(name=head.name, folder=head.folder, metadata=metadata, root=head.root, disk_size=0, data=payload)
    rest_of = collected.rest_of
    return Gathered(
        entry=entry,
        consumed=collected.consumed,
        skipped=collected.skipped,
        rest=msgspec.json.encode(collected.rest) if rest_of is not None else b"",
        rest_count=len(collected.rest),
        rest_of=rest_of,
    )


def merge_job(name: str, origin: CacheEntry, payload: bytes, count: int) -> WriteJob:
    """The job writing merged elements (a JSON array of ``count``) as a new entry in ``origin``'s place."""
    # A custom logical name survives the merge; the default one follows the new entry name.
    custom = origin.content_file != default_content_file(origin.name, origin.content_type)
    new = NewEntry(
        content_type=origin.content_type,
        payload=payload,
        filename=origin.content_file if custom else None,
        count=count,
    )
    return WriteJob(name=name, entry=new, created_at=origin.created_at, admit=False)
