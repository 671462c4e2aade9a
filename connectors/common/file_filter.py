"""File selection shared by the file Souths (folder-scanner, sftp, ftp): filters, limits, preserved list.

Every file South takes a file when its name matches the item's regex, it is older than ``minAge``, and,
with ``preserveFiles``, it was not sent already (or changed since, unless ``ignoreModifiedDate``); then it
applies ``maxFiles`` and ``maxSize``. The preserved list lives in the South cache as upstream stores it:
``[{filename, modifiedTime}]`` with the modification time in milliseconds.
"""

from __future__ import annotations

import gzip
import re
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Protocol, TypeVar

import msgspec

from connectors.base import SouthCache

__all__ = [
    "IgnoreModifiedDate",
    "MaxFiles",
    "MaxSize",
    "MinAge",
    "PreserveFiles",
    "Recursive",
    "gzip_file",
    "iso_instant",
    "load_preserved",
    "save_preserved",
    "select_files",
    "valid_regex",
]

_MB = 1024 * 1024

MinAge = Annotated[
    int,
    msgspec.Meta(
        ge=0,
        title="Minimum age",
        description="Skip files modified less than this long ago (still being written).",
        extra={"unit": "ms"},
    ),
]
PreserveFiles = Annotated[
    bool,
    msgspec.Meta(
        title="Preserve files",
        description="Keep files in the folder and remember which were sent; otherwise delete them.",
    ),
]
IgnoreModifiedDate = Annotated[
    bool,
    msgspec.Meta(
        title="Ignore modified date",
        description="With preserveFiles, never resend a file already sent, even if it changed.",
    ),
]
MaxFiles = Annotated[
    int, msgspec.Meta(ge=0, title="Max files", description="Files sent per scan at most (0 = unlimited).")
]
MaxSize = Annotated[
    int,
    msgspec.Meta(
        ge=0,
        title="Max size",
        description="Total size of the files sent per scan at most (0 = unlimited).",
        extra={"unit": "MB"},
    ),
]
Recursive = Annotated[
    bool,
    msgspec.Meta(title="Recursive", description="Scan sub-folders too; the relative path becomes the file name."),
]


class FilterSettings(Protocol):
    """The item settings every file South shares."""

    @property
    def min_age(self) -> int: ...
    @property
    def preserve_files(self) -> bool: ...
    @property
    def ignore_modified_date(self) -> bool: ...
    @property
    def max_files(self) -> int: ...
    @property
    def max_size(self) -> int: ...


class Candidate(Protocol):
    """A file a listing found: its logical name, size in bytes and modification time in ms."""

    @property
    def filename(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def modified_ms(self) -> int: ...


C = TypeVar("C", bound=Candidate)


def valid_regex(pattern: str) -> None:
    """Raise ``ValueError`` for a pattern Python cannot compile (called from a settings ``__post_init__``).

    Compiling at validation makes a bad pattern an error with its path (``items[3].settings.regex``) instead
    of a failure at the first scan.
    """
    try:
        re.compile(pattern)
    except re.error as err:
        raise ValueError(f"invalid regular expression: {err}") from None


def select_files(files: list[C], preserved: dict[str, int], settings: FilterSettings) -> list[C]:
    """The files a scan takes now: old enough, not sent already, oldest first, within the limits."""
    now_ms = time.time_ns() // 1_000_000
    # Oldest first, so that a maxFiles/maxSize limit drains a backlog in arrival order.
    return _limit(
        sorted(
            (
                candidate
                for candidate in files
                if now_ms - candidate.modified_ms >= settings.min_age
                and not _already_sent(candidate, preserved, settings)
            ),
            key=lambda candidate: (candidate.modified_ms, candidate.filename),
        ),
        settings,
    )


def _already_sent(candidate: Candidate, preserved: dict[str, int], settings: FilterSettings) -> bool:
    if not settings.preserve_files or candidate.filename not in preserved:
        return False
    return settings.ignore_modified_date or candidate.modified_ms <= preserved[candidate.filename]


def _limit(files: list[C], settings: FilterSettings) -> list[C]:
    """Apply ``maxFiles`` and ``maxSize`` (MB, total per scan) to ``files``.

    Upstream stops before the file that would exceed ``maxSize``. We do the same, except that the first file
    always passes: otherwise one file larger than ``maxSize`` would block the item forever.
    """
    if settings.max_files:
        files = files[: settings.max_files]
    if not settings.max_size:
        return files
    budget = settings.max_size * _MB
    total = 0
    for index, candidate in enumerate(files):
        total += candidate.size
        if total > budget and index > 0:
            return files[:index]
    return files


def load_preserved(cache: SouthCache, item_id: str) -> dict[str, int]:
    """The item's preserved list as ``{filename: modified_ms}``."""
    stored = cache.get_value(item_id)
    preserved: dict[str, int] = {}
    if isinstance(stored, list):
        for entry in stored:
            # Tolerate what upstream wrote (fractional milliseconds) and skip anything malformed.
            if isinstance(entry, dict) and isinstance(entry.get("filename"), str):
                modified = entry.get("modifiedTime")
                if isinstance(modified, int | float):
                    preserved[entry["filename"]] = int(modified)
    return preserved


def save_preserved(cache: SouthCache, item_id: str, preserved: dict[str, int]) -> None:
    """Persist the item's preserved list in upstream's shape."""
    value: list[dict[str, Any]] = [
        {"filename": filename, "modifiedTime": modified} for filename, modified in preserved.items()
    ]
    cache.set_value(item_id, value)


def iso_instant(epoch_ms: int) -> str:
    """An epoch in milliseconds as upstream writes instants (ISO-8601 UTC, milliseconds, ``Z``)."""
    # Whole seconds plus milliseconds: a float division could round 12.345 s down to 12.344.
    moment = datetime.fromtimestamp(epoch_ms // 1000, UTC) + timedelta(milliseconds=epoch_ms % 1000)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def gzip_file(source: Path, target: Path, name: str | None = None) -> None:
    """Gzip ``source`` into ``target``, recording the original name in the header (runs in a thread)."""
    try:
        with (
            source.open("rb") as raw,
            target.open("wb") as archive,
            gzip.GzipFile(filename=name or source.name, mode="wb", fileobj=archive, compresslevel=6) as compressed,
        ):
            shutil.copyfileobj(raw, compressed, _MB)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
