"""A full disk under the data folder: how it is recognised and said, by the caches and the API alike.

ENOSPC (or a quota's EDQUOT) is not damage: nothing written is lost, nothing stored is corrupt, and the
write succeeds again once space is freed. Refusals say so with ``NO_SPACE`` so that the API can answer
507 (send again later) instead of a generic failure, and the free space is given with it.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

NO_SPACE = "no space left on the data folder's disk"
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_no_space(err: BaseException) -> bool:
    """Whether ``err`` is a write refused for want of space (not a damaged file or a bad path)."""
    return isinstance(err, OSError) and err.errno in _FULL


def free_bytes(path: str | Path) -> int | None:
    """Bytes free on the file system holding ``path`` (``None`` when it cannot be read)."""
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def no_space_reason(path: str | Path) -> str:
    """The refusal reason for a full disk, with the free space of the file system of ``path``."""
    return f"{NO_SPACE} ({free_bytes(path)} bytes free)"
