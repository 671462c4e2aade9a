"""Blocking file primitives of the North cache (they run in worker threads, never on the event loop).

Crash rules they serve: a file becomes visible under its final name only once its bytes are on disk
(write to a temporary name, fsync, rename), and an entry exists once its metadata file exists, so the
recovery at open can drop any half-made state.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

IS_WINDOWS = os.name == "nt"
_O_BINARY: int = getattr(os, "O_BINARY", 0)
# fsync needs a writable handle on Windows; on POSIX a read-only one is enough and works on 0444 files.
_O_SYNC_HANDLE = os.O_RDWR | _O_BINARY if IS_WINDOWS else os.O_RDONLY


def _load_syncfs() -> Callable[[int], int] | None:
    """Libc's ``syncfs`` on Linux 5.8 and later (before, it did not report write errors), else None."""
    if sys.platform != "linux":
        return None
    version = tuple(int(part) for part in re.findall(r"\d+", os.uname().release)[:2])
    if version < (5, 8):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return function


_SYNCFS = _load_syncfs()
HAS_SYNCFS = _SYNCFS is not None
"""Whether :func:`sync_filesystem` works here."""


def sync_filesystem(path: Path) -> None:
    """Write out every dirty file and inode of the filesystem holding ``path``, and flush the device.

    One call instead of one fsync per file: the kernel writes everything at once and flushes the disk
    cache once. It also writes what other programs left dirty on that filesystem.
    """
    if _SYNCFS is None:
        raise OSError(f"syncfs is not available on {sys.platform}")
    fd = os.open(path, os.O_RDONLY)
    try:
        if _SYNCFS(fd) != 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error), str(path))
    finally:
        os.close(fd)


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


def fsync_file(path: str | Path) -> int:
    """Flush ``path``'s bytes to disk and return its size."""
    fd = os.open(path, _O_SYNC_HANDLE)
    try:
        os.fsync(fd)
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def write_durable(path: str | Path, data: bytes, *, sync: bool = True) -> None:
    """Write ``data`` to a new file at ``path`` and fsync it (unless the caller syncs later)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _O_BINARY, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def checksum_of(data: bytes) -> str:
    """The checksum an entry's metadata records of its content: ``crc32:<8 hex digits>``.

    CRC-32 catches torn and truncated writes, which is what it is there for (not tampering), at a cost
    next to nothing beside the fsync of the same bytes.
    """
    return f"crc32:{zlib.crc32(data):08x}"


def file_checksum(path: str | Path) -> str:
    """:func:`checksum_of` the bytes of the file ``path``, read in chunks."""
    return _read_checksum(path, sync=False)[1]


def _read_checksum(path: str | Path, *, sync: bool) -> tuple[int, str]:
    """Size and checksum of ``path``'s bytes, read through one handle (fsynced first when ``sync``)."""
    fd = os.open(path, _O_SYNC_HANDLE if sync else os.O_RDONLY | _O_BINARY)
    try:
        if sync:
            os.fsync(fd)
        crc, size = 0, 0
        while chunk := os.read(fd, 1 << 20):
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
        return size, f"crc32:{crc:08x}"
    finally:
        os.close(fd)


def overwrite_durable(path: str | Path, data: bytes, *, sync: bool = True) -> None:
    """Replace the bytes of the existing file ``path`` with ``data`` in place, and fsync it (unless told not to).

    Reusing a file costs far less than creating one and deleting another: no inode to allocate or free,
    and on small files no block either. The caller renames it afterwards, so a torn overwrite is never seen.
    """
    fd = os.open(path, os.O_WRONLY | _O_BINARY)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.ftruncate(fd, len(data))
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def place_file(source: str | Path, target: str | Path, *, link: bool, sync: bool = True) -> int:
    """Put a durable copy of ``source`` at ``target`` (hard link when allowed) and return its size.

    A hard link shares the bytes, so it is only used for files nobody will modify afterwards; when the
    link is impossible (other filesystem, no link support) the file is copied. Without ``sync`` the caller
    makes it durable later.
    """
    _place(source, target, link=link)
    return fsync_file(target) if sync else os.stat(target).st_size


def place_checked(source: str | Path, target: str | Path, *, link: bool, sync: bool = True) -> tuple[int, str]:
    """:func:`place_file`, and the size and checksum of the bytes placed, read from one handle on ``target``."""
    _place(source, target, link=link)
    return _read_checksum(target, sync=sync)


def _place(source: str | Path, target: str | Path, *, link: bool) -> None:
    """Hard-link ``source`` at ``target`` when ``link`` and possible, else copy it; a missing source raises."""
    if link:
        try:
            os.link(source, target)
        except FileNotFoundError:
            raise
        except OSError:
            pass
        else:
            return
    shutil.copyfile(source, target)


def unlink_quietly(path: str | Path) -> bool:
    """Remove ``path`` if it exists; return whether it did."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def clear_folder(path: Path, *, keep_suffix: str | None = None) -> tuple[int, list[str]]:
    """Remove everything inside ``path`` (not ``path`` itself) but regular files named ``*<keep_suffix>``.

    Return how many entries went, and the files kept.
    """
    removed = 0
    kept: list[str] = []
    with os.scandir(path) as it:
        for item in it:
            if keep_suffix and item.name.endswith(keep_suffix) and item.is_file(follow_symlinks=False):
                kept.append(item.path)
                continue
            if item.is_dir(follow_symlinks=False):
                shutil.rmtree(item.path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(item.path)
            removed += 1
    return removed, kept


def list_files(path: Path) -> dict[str, int]:
    """Regular files directly inside ``path``, with their sizes."""
    files: dict[str, int] = {}
    with os.scandir(path) as it:
        for item in it:
            if item.is_file(follow_symlinks=False):
                with contextlib.suppress(FileNotFoundError):
                    files[item.name] = item.stat(follow_symlinks=False).st_size
    return files
