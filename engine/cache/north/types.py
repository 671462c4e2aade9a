"""Value types of the North disk cache: entry metadata, new content, queued entries, the logger shape."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import msgspec

Folder = Literal["cache", "error", "archive"]
"""The three places an entry can live in: the send queue, failed entries, sent entries kept for a while."""

FOLDERS: tuple[Folder, ...] = ("cache", "error", "archive")

JSON_ARRAY_TYPES: frozenset[str] = frozenset({"time-values", "setpoint", "oianalytics", "mqtt", "modbus", "opcua"})
"""Content types whose payload is a JSON array: compaction may concatenate them."""


class CacheMetadata(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """The ``metadata/<name>`` file of an entry (upstream ``CacheMetadata``; unknown fields are ignored)."""

    content_file: str
    content_size: int
    number_of_element: int
    created_at: str
    content_type: str
    checksum: str | None = None
    """``crc32:<hex>`` of the content, checked at open; entries written before it was recorded have none."""


_METADATA_DECODER = msgspec.json.Decoder(CacheMetadata)
_VALUES_DECODER = msgspec.json.Decoder(list[dict[str, Any]])


def encode_metadata(metadata: CacheMetadata) -> bytes:
    """Serialise metadata as upstream does (camelCase JSON object)."""
    return msgspec.json.encode(metadata)


def decode_metadata(data: bytes) -> CacheMetadata:
    """Parse a metadata file; raises ``msgspec.DecodeError``/``ValidationError`` when it is not one."""
    return _METADATA_DECODER.decode(data)


def iso_now() -> str:
    """Return the current UTC time as ISO-8601 with milliseconds and ``Z`` (the ``createdAt`` format)."""
    return format_instant(datetime.now(UTC))


def format_instant(instant: datetime) -> str:
    """Format an aware datetime as ``createdAt`` does, so that strings compare like instants."""
    return instant.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class CacheLogger(Protocol):
    """The structlog-style logger the cache logs to (``logger.warning("event", key=value)``)."""

    def debug(self, event: str, /, **fields: Any) -> object:
        """Log a detail useful when investigating."""

    def info(self, event: str, /, **fields: Any) -> object:
        """Log a notable normal event."""

    def warning(self, event: str, /, **fields: Any) -> object:
        """Log a problem OIBus copes with (data refused, target failing)."""

    def error(self, event: str, /, **fields: Any) -> object:
        """Log a failure needing attention."""


@dataclass(frozen=True, slots=True)
class NewEntry:
    """Content handed to :meth:`NorthStore.store`.

    Give either ``payload`` (the JSON array bytes of time-values and other JSON types, stored as is, or the
    text bytes of ``any-content``) or ``file_path`` (an ``any`` file, copied into the cache). ``filename``
    is the logical name kept in metadata (default: the file's name, or ``<name>.json``). ``owned`` says
    the file is a private scratch file that the cache may hard-link instead of copying; the cache never
    deletes the source either way. ``count`` is the number of elements (ignored for files: always 0).
    ``folder`` is ``error`` for content that is not to be sent but kept for an operator (a transformer
    failed on it): it is written straight into ``error/``, never queued, and never folded with others.
    """

    content_type: str
    payload: bytes | None = None
    file_path: Path | None = None
    filename: str | None = None
    owned: bool = False
    count: int = 0
    folder: Folder = "cache"

    def __post_init__(self) -> None:
        if (self.payload is None) == (self.file_path is None):
            raise ValueError("a NewEntry needs exactly one of payload and file_path")
        if self.count < 0:
            raise ValueError("count must not be negative")

    @classmethod
    def time_values(cls, payload: bytes, count: int) -> NewEntry:
        """Describe a time-values batch given as the JSON bytes of its array."""
        return cls(content_type="time-values", payload=payload, count=count)

    @classmethod
    def file(
        cls, path: Path, *, filename: str | None = None, owned: bool = False, folder: Folder = "cache"
    ) -> NewEntry:
        """Describe an ``any`` file."""
        return cls(content_type="any", file_path=path, filename=filename, owned=owned, folder=folder)


@dataclass(frozen=True, slots=True, eq=False)
class CacheEntry:
    """One entry on disk: its name, where it lives and its metadata.

    Entries compare (and hash) by identity: the queue holds one object per entry, and a moved, merged or
    re-read entry is a new object.
    """

    name: str
    folder: Folder
    metadata: CacheMetadata
    root: str
    """The folder of the North's entries in ``folder`` (``<data>/cache/north-<id>``)."""
    disk_size: int
    """Bytes of the content file plus the metadata file (what ``maxSize`` counts)."""
    data: bytes | None = None
    """The content, when it is held in memory (entries merged for a send): then it has no file."""

    @property
    def content_path(self) -> Path:
        """The content file."""
        return Path(self.root, "content", self.name)

    @property
    def metadata_path(self) -> Path:
        """The metadata file."""
        return Path(self.root, "metadata", self.name)

    @property
    def content_file(self) -> str:
        """Logical file name (``data.csv``, ``<name>.json``)."""
        return self.metadata.content_file

    @property
    def content_size(self) -> int:
        """Bytes of the content."""
        return self.metadata.content_size

    @property
    def number_of_element(self) -> int:
        """Elements of a JSON array entry; 0 for a raw file."""
        return self.metadata.number_of_element

    @property
    def created_at(self) -> str:
        """Creation instant, ISO-8601 UTC with milliseconds (queue order)."""
        return self.metadata.created_at

    @property
    def content_type(self) -> str:
        """``time-values``, ``any``, ``any-content``, or a transformer output type."""
        return self.metadata.content_type

    async def read_content(self) -> bytes:
        """Read the content bytes (in a thread: files can be large)."""
        if self.data is not None:
            return self.data
        return await asyncio.to_thread(self.content_path.read_bytes)

    async def load_values(self) -> list[dict[str, Any]]:
        """Parse a JSON array entry (time-values and the like) into a list of dicts."""
        data = await self.read_content()
        return _VALUES_DECODER.decode(data)
