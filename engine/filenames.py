r"""File names a client or a remote system chose, made safe for the file systems of Linux and Windows.

A name from outside never chooses where we write (only its base name is kept) and never fails the write:
characters either platform refuses (NUL and other control characters, ``<>:"/\|?*``), trailing dots and
spaces (Windows drops them), and the reserved device names (``CON``, ``NUL``, ``COM1``...) are replaced, and
the name is cut to ``FILENAME_MAX_BYTES`` of UTF-8, keeping its extension, so the prefixes the caches add
still fit in the 255 bytes both platforms allow.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

# 255 bytes is the limit of ext4 and NTFS; the scratch and cache prefixes (a random id and a dash) need room.
FILENAME_MAX_BYTES = 200
_FORBIDDEN = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
_RESERVED = re.compile(r"^(CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³])(\..*)?$", re.IGNORECASE)
_MAX_EXTENSION_BYTES = 32


def safe_filename(name: str | None, default: str = "file") -> str:
    """Return the base name of ``name``, with what Linux or Windows would refuse replaced by ``_``."""
    base = PurePosixPath((name or "").replace("\\", "/")).name
    cleaned = _FORBIDDEN.sub("_", base).rstrip(" .")
    if not cleaned or cleaned in (".", ".."):
        return default
    if _RESERVED.match(cleaned):
        cleaned = f"_{cleaned}"
    return _shorten(cleaned)


def _shorten(name: str) -> str:
    """Cut ``name`` to ``FILENAME_MAX_BYTES`` of UTF-8, keeping a short extension, never splitting a character."""
    if len(name.encode()) <= FILENAME_MAX_BYTES:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension.encode()) > _MAX_EXTENSION_BYTES:
        stem, extension = name, ""
    suffix = f".{extension}" if extension else ""
    room = FILENAME_MAX_BYTES - len(suffix.encode())
    cut = stem.encode()[:room].decode(errors="ignore").rstrip(" .")
    return f"{cut or 'file'}{suffix}"
