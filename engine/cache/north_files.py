"""Blocking file primitives of the North cache (they run in worker threads, never on the event loop).

Crash rules they serve: a file becomes visible under its final name only once its bytes are on disk
(write to a temporary name, fsync, rename), and an entry exists once its metadata file exists, so the
recovery at open can drop any half-made state.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

IS_WINDOWS = os.name == "nt"
_O_BINARY: int = getattr(os, "O_BINARY", 0)
# fsync needs a writable handle on Windows; on POSIX a read-only one is enough and works on 0444 files.
_O_SYNC_HANDLE = os.O_RDWR | _O_BINARY if IS_WINDOWS else os.O_RDONLY


def fsync_dir(path: Path) -> None:
    """Make renames and creations in ``path`` durable."""
    if IS_WINDOWS:
        # NTFS journals directory changes itself, and a directory cannot be opened for fsync there.
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> int:
    """Flush ``path``'s bytes to disk and return its size."""
    fd = os.open(path, _O_SYNC_HANDLE)
    try:
        os.fsync(fd)
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def write_durable(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file at ``path`` and fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _O_BINARY, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def place_file(source: Path, target: Path, *, link: bool) -> int:
    """Put a durable copy of ``source`` at ``target`` (hard link when allowed) and return its size.

    A hard link shares the bytes, so it is only used for files nobody will modify afterwards; when the
    link is impossible (other filesystem, no link support) the file is copied.
    """
    if link:
        try:
            os.link(source, target)
        except FileNotFoundError:
            raise
        except OSError:
            pass
        else:
            return fsync_file(target)
    shutil.copyfile(source, target)
    return fsync_file(target)


def unlink_quietly(path: Path) -> bool:
    """Remove ``path`` if it exists; return whether it did."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def clear_folder(path: Path) -> int:
    """Remove everything inside ``path`` (not ``path`` itself); return how many entries went."""
    removed = 0
    with os.scandir(path) as it:
        for item in it:
            if item.is_dir(follow_symlinks=False):
                shutil.rmtree(item.path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(item.path)
            removed += 1
    return removed


def list_files(path: Path) -> dict[str, int]:
    """Regular files directly inside ``path``, with their sizes."""
    files: dict[str, int] = {}
    with os.scandir(path) as it:
        for item in it:
            if item.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    files[item.name] = item.stat(follow_symlinks=False).st_size
    return files
