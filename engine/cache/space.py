"""A full disk under the data folder: how it is recognised and said, by the caches and the API alike.

ENOSPC (or a quota's EDQUOT) is not damage: nothing written is lost, nothing stored is corrupt, and the
write succeeds again once space is freed. Refusals say so with ``NO_SPACE`` so that the API can answer
507 (send again later) instead of a generic failure, and the free space is given with it.
"""

from __future__ import annotations

import errno
import shutil
import sqlite3
from pathlib import Path

NO_SPACE = "no space left on the data folder's disk"
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
# Below this, an I/O error of SQLite on the file system is taken for want of space: growing the shared
# memory file of a WAL database (SQLITE_IOERR_SHMSIZE) fails that way, not with SQLITE_FULL.
_NEARLY_FULL_BYTES = 1 << 20


def is_no_space(err: BaseException) -> bool:
    """Whether ``err`` is a write refused for want of space (not a damaged file or a bad path)."""
    return isinstance(err, OSError) and err.errno in _FULL


def is_store_no_space(err: BaseException, path: str | Path) -> bool:
    """Whether opening or writing the SQLite file ``path`` failed for want of space (not because it is damaged)."""
    if is_no_space(err):
        return True
    if not isinstance(err, sqlite3.Error):
        return False
    code = getattr(err, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_FULL or "disk is full" in str(err):
        return True
    free = free_bytes(Path(path).parent)
    return code is not None and code & 0xFF == sqlite3.SQLITE_IOERR and free is not None and free < _NEARLY_FULL_BYTES


def free_bytes(path: str | Path) -> int | None:
    """Bytes free on the file system holding ``path`` (``None`` when it cannot be read)."""
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def no_space_reason(path: str | Path) -> str:
    """The refusal reason for a full disk, with the free space of the file system of ``path``."""
    # The nearest folder that exists: a file (or a folder) that could not be created has no file system yet.
    existing = next((folder for folder in (Path(path), *Path(path).parents) if folder.exists()), Path(path))
    return f"{NO_SPACE} ({free_bytes(existing)} bytes free)"
