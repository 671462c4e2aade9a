"""Layout-aware blocking operations of the North cache: write, recover, move, delete.

Everything here runs in worker threads. Each operation orders its steps so that a kill -9 (or a power cut,
thanks to fsync) at any instant leaves, after the recovery of :meth:`NorthDisk.recover`, either the old
state or the new one, or at worst an extra copy of some entry, never a lost one:

- a new entry: content and metadata are written and fsynced under ``tmp/`` (a file's content straight
  into ``content/``), then content is renamed into ``content/``, then metadata into ``metadata/`` (the
  entry exists from that rename on);
- a move to another folder: the content is hard-linked (or copied) into the target and made durable,
  then the metadata is renamed, then the old content is unlinked;
- a deletion: metadata first (the entry is gone), then content;
- a compaction (``north_merge``): the merged entry is written like a new one, then the originals deleted.

Recovery empties ``tmp/`` (but the spare files, see :class:`SparePool`), and removes content files
without metadata and metadata files without content.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import secrets
import threading
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from engine.cache.north.files import (
    checksum_of,
    clear_folder,
    file_checksum,
    fsync_dir,
    list_files,
    overwrite_durable,
    place_checked,
    place_file,
    unlink_quietly,
    write_durable,
)
from engine.cache.north.types import (
    FOLDERS,
    CacheEntry,
    CacheMetadata,
    Folder,
    NewEntry,
    decode_metadata,
    encode_metadata,
    format_instant,
)
from engine.cache.space import NO_SPACE, is_no_space, no_space_reason


def default_content_file(name: str, content_type: str) -> str:
    """Logical file name of a payload entry that was given none."""
    return f"{name}.txt" if content_type == "any-content" else f"{name}.json"


@dataclass(slots=True)
class WriteJob:
    """One entry to write: its reserved name, content, and the outcome filled in by the writer."""

    name: str
    entry: NewEntry
    created_at: str
    admit: bool = True
    """False for compaction output: it replaces entries already counted, so ``maxSize`` must not refuse it."""
    result: CacheEntry | None = None
    reason: str | None = None
    reason_kind: str | None = None
    refused_size: int = 0
    reserved: int = 0
    stored_in: WriteJob | None = None
    """The job whose entry carries this one's elements, when the group commit coalesced them."""
    staged: tuple[str, str, CacheMetadata] | None = None
    """Temporary content and metadata files written by :meth:`NorthDisk.stage`, and the metadata."""

    def refuse(self, kind: str, reason: str, size: int) -> None:
        """Record why the entry was not stored."""
        self.reason_kind, self.reason, self.refused_size = kind, reason, size

    @property
    def unit(self) -> WriteJob:
        """The job actually written for this one (itself unless coalesced)."""
        return self.stored_in or self


@dataclass(slots=True)
class Recovery:
    """What :meth:`NorthDisk.recover` found and repaired."""

    entries: dict[Folder, list[CacheEntry]] = field(default_factory=dict)
    tmp_removed: int = 0
    orphan_contents: int = 0
    dangling_metadata: int = 0
    unparsable: list[tuple[Folder, str, str]] = field(default_factory=list)
    """Entries whose metadata could not be parsed (folder, name, why): now in ``error/`` with rebuilt metadata."""
    unreadable: list[tuple[Folder, str, str]] = field(default_factory=list)
    mismatched: list[tuple[str, str]] = field(default_factory=list)
    """Entries of ``cache/`` whose content is not what their metadata recorded (name, why): moved to ``error/``."""


Admit = Callable[[int], bool]

SPARE_SUFFIX = ".spare"
MAX_SPARES = 512
SPARE_KEEP_BYTES = 16 * 1024
"""A larger file is emptied before it becomes a spare, so spares hold at most ``MAX_SPARES`` x 16 KiB."""


class SparePool:
    """Files of deleted ``cache/`` entries kept in ``tmp/`` to be overwritten by the files of new entries.

    Creating a file and deleting another costs an inode allocation and a release, and on ext4 without a
    journal each creation scans past every inode released in the last seconds: with thousands of entries
    going through the cache per second that dominated the cost of an entry. A deleted entry's metadata
    file (and the content of an entry the cache wrote itself) is renamed here instead, and a new entry
    overwrites it in place, fsyncs it and renames it into place, just as it would a new file. Spares are
    garbage as far as recovery is concerned (they sit in ``tmp/``): at most ``limit`` of them are kept.
    """

    def __init__(self, folder: Path, limit: int | None = None) -> None:
        self._folder = str(folder)
        self.limit = MAX_SPARES if limit is None else limit
        self._lock = threading.Lock()
        self._free: list[str] = []
        self._count = 0
        """Free spares plus those being renamed in."""
        self._prefix = secrets.token_hex(4)
        self._serial = itertools.count()

    def __len__(self) -> int:
        with self._lock:
            return len(self._free)

    def take(self) -> str | None:
        """A spare file to overwrite (it is no longer in the pool), or None."""
        with self._lock:
            if not self._free:
                return None
            self._count -= 1
            return self._free.pop()

    def reserve(self) -> str | None:
        """A new spare name to rename a file to, if the pool has room; :meth:`added` or :meth:`cancel` it."""
        with self._lock:
            if self._count >= self.limit:
                return None
            self._count += 1
        return f"{self._folder}/{self._prefix}-{next(self._serial)}{SPARE_SUFFIX}"

    def added(self, path: str) -> None:
        """The file renamed to a reserved name is ready for use."""
        with self._lock:
            self._free.append(path)

    def cancel(self) -> None:
        """A reserved name was not used."""
        with self._lock:
            self._count -= 1

    def load(self, paths: list[str]) -> list[str]:
        """Adopt spares found at open; return those beyond the limit (to delete)."""
        with self._lock:
            room = max(0, self.limit - self._count)
            self._free.extend(paths[:room])
            self._count += min(room, len(paths))
        return paths[room:]


class NorthDisk:
    """The folders of one North and the blocking operations on them."""

    def __init__(self, data_folder: Path, folder_name: str) -> None:
        self.roots: dict[Folder, Path] = {f: data_folder / f / folder_name for f in FOLDERS}
        # The same as strings, for the per-entry work: joining strings costs far less than joining Paths.
        self._root_strs: dict[Folder, str] = {f: str(path) for f, path in self.roots.items()}
        self._content = {f: os.path.join(root, "content") for f, root in self._root_strs.items()}
        self._metadata = {f: os.path.join(root, "metadata") for f, root in self._root_strs.items()}
        self.tmp = self.roots["cache"] / "tmp"
        self._tmp = str(self.tmp)
        self.spares = SparePool(self.tmp)

    def content_dir(self, folder: Folder) -> Path:
        """``<root>/content``."""
        return self.roots[folder] / "content"

    def metadata_dir(self, folder: Folder) -> Path:
        """``<root>/metadata``."""
        return self.roots[folder] / "metadata"

    def entry(self, folder: Folder, name: str, metadata: CacheMetadata, disk_size: int) -> CacheEntry:
        """Build the in-memory view of an entry."""
        return CacheEntry(
            name=name, folder=folder, metadata=metadata, root=self._root_strs[folder], disk_size=disk_size
        )

    # -- writing new entries ------------------------------------------------------------------------

    def write(self, job: WriteJob, admit: Admit, release: Callable[[int], None]) -> None:
        """Write one entry to ``tmp/``, fsync, and rename it into ``cache/`` (directories not fsynced).

        ``admit(n)`` reserves ``n`` bytes of ``maxSize`` (or refuses); ``release(n)`` gives them back.
        On failure nothing of the entry is left and ``job.reason`` says why.
        """
        if self.stage(job, admit, release, sync=True):
            self.publish(job, release)

    def stage(self, job: WriteJob, admit: Admit, release: Callable[[int], None], *, sync: bool) -> bool:
        """Write the files of one entry under ``tmp/``, fsynced when ``sync``; False (and why) when refused.

        Without ``sync`` the caller makes them durable (``syncfs``) before :meth:`publish`.
        """
        new, name = job.entry, job.name
        tmp_content, tmp_metadata = f"{self._tmp}/{name}.content", f"{self._tmp}/{name}.metadata"
        source_stage = True
        try:
            size, metadata = _describe(job)
            metadata_bytes = encode_metadata(metadata)
            if not admit(size + len(metadata_bytes)):
                job.refuse("cache_full", "cache full: maxSize reached", size)
                return False
            job.reserved = size + len(metadata_bytes)
            if new.payload is not None:
                source_stage = False
                tmp_content = self._write_new(tmp_content, new.payload, sync=sync)
            else:
                assert new.file_path is not None
                # Straight under its final name: until its metadata exists, a content file is an orphan
                # that recovery deletes, so a rename from tmp/ would add nothing but a directory operation.
                tmp_content = f"{self._content['cache']}/{name}"
                actual, checksum = place_checked(new.file_path, tmp_content, link=new.owned, sync=sync)
                source_stage = False
                # Of the bytes stored, not of the source: a file changed between stat and copy is described as kept.
                metadata = msgspec.structs.replace(metadata, content_size=actual, checksum=checksum)
                metadata_bytes = encode_metadata(metadata)
                if actual != size:
                    resized = actual + len(metadata_bytes)
                    release(job.reserved - resized)
                    job.reserved = resized
            tmp_metadata = self._write_new(tmp_metadata, metadata_bytes, sync=sync)
        except OSError as err:
            unlink_quietly(tmp_content)
            unlink_quietly(tmp_metadata)
            if job.reserved:
                release(job.reserved)
                job.reserved = 0
            if source_stage and isinstance(err, FileNotFoundError):
                job.refuse("source_missing", f"source file missing: {new.file_path}", 0)
            elif source_stage:
                job.refuse("source_unreadable", f"source file unreadable: {err}", 0)
            else:
                _refuse_write(job, err, self.tmp)
            return False
        job.staged = (tmp_content, tmp_metadata, metadata)
        return True

    def publish(self, job: WriteJob, release: Callable[[int], None]) -> None:
        """Rename a staged (and durable) entry into its folder (``cache/``): content first, then metadata."""
        assert job.staged is not None
        tmp_content, tmp_metadata, metadata = job.staged
        job.staged = None
        folder = job.entry.folder
        final_content = f"{self._content[folder]}/{job.name}"
        try:
            if tmp_content != final_content:
                os.replace(tmp_content, final_content)
            os.replace(tmp_metadata, f"{self._metadata[folder]}/{job.name}")
        except OSError as err:
            self.unstage(tmp_content, tmp_metadata)
            unlink_quietly(final_content)
            self._undo(job, release, err)
            return
        job.result = self.entry(folder, job.name, metadata, job.reserved)

    def drop_staged(self, job: WriteJob, release: Callable[[int], None], err: OSError) -> None:
        """Give up a staged entry (its files could not be made durable)."""
        assert job.staged is not None
        tmp_content, tmp_metadata, _ = job.staged
        job.staged = None
        self.unstage(tmp_content, tmp_metadata)
        self._undo(job, release, err)

    @staticmethod
    def unstage(*paths: str | Path) -> None:
        """Remove staged files, quietly."""
        for path in paths:
            with contextlib.suppress(OSError):
                unlink_quietly(path)

    @staticmethod
    def _undo(job: WriteJob, release: Callable[[int], None], err: OSError) -> None:
        if job.reserved:
            release(job.reserved)
            job.reserved = 0
        _refuse_write(job, err, None)

    def _write_new(self, path: str, data: bytes, *, sync: bool) -> str:
        """Write ``data`` into a spare file if there is one, else into a new file at ``path``; return which."""
        spare = self.spares.take()
        if spare is not None:
            try:
                overwrite_durable(spare, data, sync=sync)
            except OSError:
                unlink_quietly(spare)
            else:
                return spare
        write_durable(path, data, sync=sync)
        return path

    def _recycle(self, path: str, *, check_links: bool = False) -> bool:
        """Move ``path`` into the spare pool if it has room; False when the file does not exist.

        Raises ``OSError`` when neither that nor deleting it worked.
        """
        spare = self.spares.reserve()
        if spare is None:
            return unlink_quietly(path)
        try:
            if check_links:
                status = os.stat(path)
                # A content file also reachable under another name is not the cache's own: never reuse it.
                if status.st_nlink != 1:
                    self.spares.cancel()
                    return unlink_quietly(path)
                if status.st_size > SPARE_KEEP_BYTES:
                    # Keep the inode, not the bytes: spares are not counted in maxSize.
                    os.truncate(path, 0)
            os.replace(path, spare)
        except FileNotFoundError:
            self.spares.cancel()
            return False
        except OSError:
            self.spares.cancel()
            return unlink_quietly(path)
        self.spares.added(spare)
        return True

    def sync_cache_dirs(
        self,
        run_parallel: Callable[[Callable[[], object]], Callable[[], object]],
        folder: Folder = "cache",
    ) -> None:
        """Fsync ``<folder>/content`` and ``<folder>/metadata``: once per group, both at the same time."""
        wait_other = run_parallel(lambda: fsync_dir(self.content_dir(folder)))
        try:
            fsync_dir(self.metadata_dir(folder))
        finally:
            wait_other()

    def drop_written(self, names: Iterable[str], folder: Folder = "cache") -> None:
        """Undo written entries (their directory fsync failed, so the caller is told they were refused)."""
        for name in names:
            unlink_quietly(self.metadata_dir(folder) / name)
            unlink_quietly(self.content_dir(folder) / name)

    # -- recovery -----------------------------------------------------------------------------------

    def recover(self) -> Recovery:
        """Create the folders, clear ``tmp/``, remove half-made entries, and list the complete ones.

        Nothing acknowledged is deleted for being damaged: an entry of ``cache/`` whose content does not
        match the size or checksum its metadata records goes to ``error/``, and an entry whose metadata
        cannot be parsed gets metadata rebuilt from its content, in ``error/`` (the damaged metadata kept in
        ``error/<north>/damaged/``). ``cache`` is listed first, so ``error/`` then lists what it received.
        """
        report = Recovery()
        for folder in FOLDERS:
            self.content_dir(folder).mkdir(parents=True, exist_ok=True)
            self.metadata_dir(folder).mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        report.tmp_removed, spares = clear_folder(self.tmp, keep_suffix=SPARE_SUFFIX)
        for extra in self.spares.load(spares):
            unlink_quietly(extra)
        for folder in FOLDERS:
            entries = self._recover_folder(folder, report)
            entries.sort(key=lambda e: (e.created_at, e.name))
            report.entries[folder] = entries
        return report

    def _recover_folder(self, folder: Folder, report: Recovery) -> list[CacheEntry]:
        contents = list_files(self.content_dir(folder))
        entries: list[CacheEntry] = []
        damaged: list[str] = []
        for name, metadata_size in list_files(self.metadata_dir(folder)).items():
            metadata_path = self.metadata_dir(folder) / name
            content_size = contents.pop(name, None)
            if content_size is None:
                unlink_quietly(metadata_path)
                report.dangling_metadata += 1
                continue
            try:
                data = metadata_path.read_bytes()
            except OSError as err:
                # Unreadable is not proof of garbage (permissions, I/O error): keep the files.
                report.unreadable.append((folder, name, str(err)))
                continue
            try:
                metadata = decode_metadata(data)
            except (msgspec.DecodeError, msgspec.ValidationError) as err:
                rebuilt = self._salvage(folder, name, data)
                if rebuilt is None:
                    report.unreadable.append((folder, name, f"{err}; could not be moved to the error folder"))
                    continue
                report.unparsable.append((folder, name, str(err)))
                if folder == "error":
                    entries.append(self.entry(folder, name, rebuilt, content_size + len(encode_metadata(rebuilt))))
                continue
            problem = self._mismatch(folder, name, metadata, content_size) if folder == "cache" else None
            if problem is not None:
                report.mismatched.append((name, problem))
                damaged.append(name)
                continue
            entries.append(self.entry(folder, name, metadata, content_size + metadata_size))
        for name in contents:
            unlink_quietly(self.content_dir(folder) / name)
            report.orphan_contents += 1
        if damaged:
            self.move(damaged, "cache", "error")
        return entries

    def _mismatch(self, folder: Folder, name: str, metadata: CacheMetadata, size: int) -> str | None:
        """Why the content of an entry is not what its metadata recorded (truncated, torn), or None."""
        if size != metadata.content_size:
            return f"content is {size} bytes, its metadata recorded {metadata.content_size}"
        if metadata.checksum is None:
            return None  # Written before checksums were recorded: the size is all there is to check.
        try:
            found = file_checksum(self.content_dir(folder) / name)
        except OSError as err:
            return f"content unreadable: {err}"
        if found != metadata.checksum:
            return f"content checksum is {found}, its metadata recorded {metadata.checksum}"
        return None

    def _salvage(self, folder: Folder, name: str, damaged: bytes) -> CacheMetadata | None:
        """Give an entry with unparsable metadata new metadata in ``error/``; keep the damaged bytes beside.

        Crash order: the damaged metadata and the content are copied into ``error/`` first, then the new
        metadata is written there, then the originals go; a crash leaves at worst the entry twice.
        """
        content = self.content_dir(folder) / name
        try:
            rebuilt = rebuilt_metadata(name, content)
            kept = self.roots["error"] / "damaged"
            kept.mkdir(parents=True, exist_ok=True)
            write_durable(kept / f"{name}.metadata", damaged)
            if folder != "error":
                target = self.content_dir("error") / name
                unlink_quietly(target)
                place_file(content, target, link=True)
                fsync_dir(target.parent)
            partial = self._tmp + f"/{name}.rebuilt"
            write_durable(partial, encode_metadata(rebuilt))
            _replace_across(Path(partial), self.metadata_dir("error") / name)
            fsync_dir(self.metadata_dir("error"))
        except OSError:
            return None  # Left as it is (nothing deleted): tried again at the next open.
        if folder != "error":
            unlink_quietly(self.metadata_dir(folder) / name)
            unlink_quietly(content)
        return rebuilt

    # -- moving and deleting ------------------------------------------------------------------------

    def move(self, names: list[str], source: Folder, target: Folder) -> list[tuple[str, CacheMetadata]]:
        """Move entries between folders; return the moved ones with their metadata.

        Three steps, each durable before the next, so a crash leaves a complete entry in at least one
        folder: content linked into ``target``; metadata renamed into ``target``; old content unlinked.
        """
        linked: list[str] = []
        for name in names:
            target_content = self.content_dir(target) / name
            # A stale target content (from a move interrupted earlier) would make the link fail.
            unlink_quietly(target_content)
            try:
                place_file(self.content_dir(source) / name, target_content, link=True)
            except FileNotFoundError:
                continue
            linked.append(name)
        if not linked:
            return []
        fsync_dir(self.content_dir(target))
        moved: list[tuple[str, CacheMetadata]] = []
        for name in linked:
            source_metadata = self.metadata_dir(source) / name
            target_metadata = self.metadata_dir(target) / name
            try:
                metadata = decode_metadata(source_metadata.read_bytes())
                _replace_across(source_metadata, target_metadata)
            except (OSError, msgspec.DecodeError, msgspec.ValidationError):
                unlink_quietly(self.content_dir(target) / name)
                continue
            if target != "cache":
                # Retention in error/ and archive/ counts from the arrival there, not from creation.
                with contextlib.suppress(OSError):
                    os.utime(target_metadata)
            moved.append((name, metadata))
        fsync_dir(self.metadata_dir(target))
        for name, _ in moved:
            unlink_quietly(self.content_dir(source) / name)
        return moved

    def delete(self, folder: Folder, names: Iterable[str], *, own_contents: Collection[str] = ()) -> list[str]:
        """Delete entries (metadata first: the entry is gone at once); return those that existed.

        In ``cache/`` the files go to the spare pool while it has room: the metadata files, and the
        contents of ``own_contents`` (entries whose content the cache wrote itself, never a linked file).
        """
        deleted: list[str] = []
        recycle = folder == "cache"
        for name in names:
            metadata, content = f"{self._metadata[folder]}/{name}", f"{self._content[folder]}/{name}"
            try:
                if recycle:
                    existed = self._recycle(metadata)
                    if name in own_contents:
                        existed = self._recycle(content, check_links=True) or existed
                    else:
                        existed = unlink_quietly(content) or existed
                else:
                    existed = unlink_quietly(metadata)
                    existed = unlink_quietly(content) or existed
            except OSError:
                # Left on disk, it comes back at the next start: a duplicate at worst.
                continue
            if existed:
                deleted.append(name)
        return deleted

    def expired(self, folder: Folder, names: Iterable[str], cutoff: float) -> list[str]:
        """Entries whose metadata file was last modified before ``cutoff`` (epoch seconds)."""
        old: list[str] = []
        for name in names:
            try:
                if os.stat(self.metadata_dir(folder) / name).st_mtime < cutoff:
                    old.append(name)
            except FileNotFoundError:
                old.append(name)
        return old

    def read_metadata(self, folder: Folder, names: Iterable[str]) -> list[CacheEntry]:
        """Entries of ``folder`` with their metadata (unreadable ones are skipped)."""
        found: list[CacheEntry] = []
        for name in names:
            metadata_path = self.metadata_dir(folder) / name
            try:
                data = metadata_path.read_bytes()
                metadata = decode_metadata(data)
                content_size = os.stat(self.content_dir(folder) / name).st_size
            except (OSError, msgspec.DecodeError, msgspec.ValidationError):
                continue
            found.append(self.entry(folder, name, metadata, content_size + len(data)))
        return found


def rebuilt_metadata(name: str, content: Path) -> CacheMetadata:
    """Metadata for a content file whose own is lost: a JSON array of objects is time-values, else a file."""
    data = content.read_bytes()
    try:
        count = len(_ELEMENTS.decode(data))
    except (msgspec.DecodeError, msgspec.ValidationError):
        content_type, content_file, count = "any", name, 0
    else:
        content_type, content_file = "time-values", default_content_file(name, "time-values")
    return CacheMetadata(
        content_file=content_file,
        content_size=len(data),
        number_of_element=count,
        created_at=format_instant(datetime.fromtimestamp(content.stat().st_mtime, UTC)),
        content_type=content_type,
        checksum=checksum_of(data),
    )


_ELEMENTS = msgspec.json.Decoder(list[dict[str, Any]])


def _replace_across(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target``, copying durably when they sit on different filesystems."""
    try:
        os.replace(source, target)
    except OSError as err:
        if err.errno != errno.EXDEV:
            raise
        partial = target.with_name(f"{target.name}.part")
        write_durable(partial, source.read_bytes())
        os.replace(partial, target)
        os.unlink(source)


def _describe(job: WriteJob) -> tuple[int, CacheMetadata]:
    """The content size and metadata of a new entry (a file source is stat-ed: ``OSError`` if it is gone)."""
    new = job.entry
    if new.payload is not None:
        size, count = len(new.payload), new.count
        content_file = new.filename or default_content_file(job.name, new.content_type)
    else:
        assert new.file_path is not None
        size, count = os.stat(new.file_path).st_size, 0
        content_file = new.filename or new.file_path.name
    metadata = CacheMetadata(
        content_file=content_file,
        content_size=size,
        number_of_element=count,
        created_at=job.created_at,
        content_type=new.content_type,
        # A file's is taken once it is copied (``stage``), of the bytes stored; the placeholder has its length.
        checksum=checksum_of(new.payload if new.payload is not None else b""),
    )
    return size, metadata


def _refuse_write(job: WriteJob, err: OSError, where: str | Path | None) -> None:
    # A full disk is said as such: the API answers 507 and a South keeps its data until space is freed.
    if is_no_space(err):
        job.refuse("no_space", no_space_reason(where) if where is not None else NO_SPACE, 0)
    else:
        job.refuse("write_failed", f"cache write failed: {err}", 0)
