"""Folder-scanner South connector: hands matching files over, then deletes or remembers them."""

from __future__ import annotations

import asyncio
import os
import re
import stat
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from connectors.base import ConnectorContext, Item, SouthCache, SouthConnector, TimeValue, ValueSink
from connectors.common.file_filter import gzip_file, iso_instant, load_preserved, save_preserved, select_files
from connectors.errors import ConnectorFatal, ConnectorNotReady, ContentRefused
from connectors.south.folder_scanner.manifest import (
    MANIFEST,
    FolderScannerItemSettings,
    FolderScannerSettings,
)

__all__ = ["BATCH_BYTES", "FILES_PER_BATCH", "MAX_IN_FLIGHT", "FolderScannerSouth"]

FILES_PER_BATCH = 256
"""Files handed over in one ``add_files`` call: one frame, one group commit and one answer for them all,
instead of a round trip through the engine and the Norths per file."""

BATCH_BYTES = 64 * 1024 * 1024
"""Bytes per batch at most (a larger file goes alone): a North must store a whole batch before the engine's
store timeout, copying the files when it cannot link them."""

MAX_IN_FLIGHT = 4
"""Batches handed over concurrently. Each call returns only after every target North stored its files, so
while one batch waits for that, the next ones are already on their way."""

_SCRATCH_SUFFIX = ".scan.gz"
# The preserved list is saved during a run, not only at its end, so a crash re-sends few files. Saving
# rewrites the whole list, so the period grows with it: at most ~10 rewrites whatever its length.
_CHECKPOINT_MIN_FILES = 500
_CHECKPOINT_FRACTION = 10


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A matching file found by the listing."""

    path: Path
    filename: str  # Logical name: relative POSIX path below the input folder.
    size: int
    modified_ms: int


@dataclass(slots=True)
class _Listing:
    files: list[_Candidate] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (path, error) of unreadable entries


@dataclass(slots=True)
class _RunState:
    """Shared by all the items of one ``last_file`` call."""

    refusal_logged: bool = False


@dataclass(slots=True)
class _ItemState:
    """Book-keeping of one item during a run."""

    item: Item[FolderScannerItemSettings]
    preserved: dict[str, int]
    sent: int = 0
    skipped: int = 0
    refused: bool = False
    unsaved: int = 0
    dirty: bool = False


class FolderScannerSouth(SouthConnector[FolderScannerSettings, FolderScannerItemSettings]):
    """Hands over the files of ``inputFolder`` that match each item, oldest first.

    A file leaves the folder (``preserveFiles`` false) or enters the item's preserved list (true) only after
    ``sink.add_file`` returned, that is once every target North stored it; a refused file stays and is
    retried at the next scan.
    """

    manifest = MANIFEST

    def __init__(
        self,
        settings: FolderScannerSettings,
        context: ConnectorContext,
        sink: ValueSink,
        cache: SouthCache,
    ) -> None:
        super().__init__(settings, context, sink, cache)
        self.input_folder = context.resolve(settings.input_folder)
        self._tmp_folder = context.base_folder / "tmp"
        # Paths that could not be listed, per item, so that a lasting problem is logged once.
        self._problems: dict[str, set[str]] = {}

    async def start(self) -> None:
        """Check the input folder and prepare the scratch folder used by ``compression``."""
        if self.settings.username or self.settings.password or self.settings.domain:
            # Upstream maps the share with `net use` on Windows; we expect the share to be mounted (Linux)
            # or reachable by the service account (Windows), so say once that the credentials are unused.
            self.context.logger.warning(
                "smb credentials ignored", folder=str(self.input_folder), reason="mount the share instead"
            )
        await asyncio.to_thread(self._prepare)

    def _prepare(self) -> None:
        self._check_folder()
        self._tmp_folder.mkdir(parents=True, exist_ok=True)
        # Scratch archives left by a crash: the North that received one has its own copy or link already.
        for leftover in self._tmp_folder.glob(f"*{_SCRATCH_SUFFIX}"):
            leftover.unlink(missing_ok=True)

    async def stop(self) -> None:
        """Nothing to release: the connector holds no handle between runs."""

    async def test_connection(self) -> None:
        """Raise ``ConnectorNotReady``/``ConnectorFatal`` naming the folder when it cannot be scanned."""
        await asyncio.to_thread(self._check_folder, True)

    def _check_folder(self, try_listing: bool = False) -> None:
        folder = self.input_folder
        try:
            status = folder.stat()
        except FileNotFoundError:
            raise ConnectorNotReady(f"input folder {folder} does not exist") from None
        except OSError as err:
            raise ConnectorNotReady(f"input folder {folder} cannot be reached: {_reason(err)}") from err
        if not stat.S_ISDIR(status.st_mode):
            raise ConnectorFatal(f"input folder {folder} is not a folder")
        if not os.access(folder, os.R_OK | os.X_OK):
            raise ConnectorNotReady(f"input folder {folder} is not readable: permission denied")
        if try_listing:
            try:
                with os.scandir(folder) as entries:
                    next(entries, None)
            except OSError as err:
                raise ConnectorNotReady(f"input folder {folder} cannot be listed: {_reason(err)}") from err

    async def last_file(self, items: list[Item[FolderScannerItemSettings]]) -> None:
        """Hand over the new files of each item (``lastFile`` mode)."""
        run = _RunState()
        if self.settings.compression:
            await asyncio.to_thread(self._tmp_folder.mkdir, parents=True, exist_ok=True)
        for item in items:
            await self._scan_item(item, run)

    async def _scan_item(self, item: Item[FolderScannerItemSettings], run: _RunState) -> None:
        settings = item.settings
        listing = await asyncio.to_thread(self._list, settings)
        self._report_problems(item, listing.problems)
        state = _ItemState(item=item, preserved=self._load_preserved(item) if settings.preserve_files else {})
        if settings.preserve_files:
            # Forget files that left the folder: the list would otherwise grow forever.
            present = {candidate.filename for candidate in listing.files}
            stale = [name for name in state.preserved if name not in present]
            for name in stale:
                del state.preserved[name]
            state.dirty = bool(stale)

        selected = select_files(listing.files, state.preserved, settings)
        try:
            await self._hand_over_all(selected, state, run)
        except BaseExceptionGroup as group:
            # The runner expects the error a mode method raised, not the TaskGroup's wrapper.
            raise group.exceptions[0] from group
        finally:
            if state.dirty:
                self._save_preserved(state)
        if state.sent or state.skipped:
            self.context.logger.info(
                "files sent", item=item.name, sent=state.sent, skipped=state.skipped, kept=state.refused
            )

    async def test_item(self, item: Item[FolderScannerItemSettings], start: datetime, end: datetime) -> None:
        """Hand over, as time-values, the files the item would take now; read, move or remember nothing.

        One value per file, as upstream: ``pointId`` the item name, ``timestamp`` the file's modification
        time, ``data.value`` its name. A stored item's preserved list is read (not written), so files it
        already sent are left out as a real scan would.
        """
        del start, end  # A folder has no history.
        await self.test_connection()
        settings = item.settings
        listing = await asyncio.to_thread(self._list, settings)
        preserved = self._load_preserved(item) if settings.preserve_files else {}
        values: list[TimeValue] = [
            {
                "pointId": item.name,
                "timestamp": iso_instant(candidate.modified_ms),
                "data": {"value": candidate.filename},
            }
            for candidate in select_files(listing.files, preserved, settings)
        ]
        await self.sink.add_values(values, items=[item.id])

    def _report_problems(self, item: Item[FolderScannerItemSettings], problems: list[tuple[str, str]]) -> None:
        # Warn when an entry becomes unreadable and once when it recovers, not at every scan (STYLE R11).
        current = {path for path, _ in problems}
        known = self._problems.setdefault(item.id, set())
        for path, error in problems:
            if path not in known:
                self.context.logger.warning("file skipped", item=item.name, path=path, error=error)
        for path in known - current:
            self.context.logger.info("file readable again", item=item.name, path=path)
        self._problems[item.id] = current

    async def _hand_over_all(self, files: list[_Candidate], state: _ItemState, run: _RunState) -> None:
        slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        async with asyncio.TaskGroup() as group:
            for batch in _batches(files):
                await slots.acquire()
                if state.refused:
                    # The Norths are full: the rest would be refused too. They stay for the next scan.
                    slots.release()
                    break
                group.create_task(self._hand_over(batch, state, run, slots), name=f"{self.context.id}:send-files")

    async def _hand_over(
        self, batch: list[_Candidate], state: _ItemState, run: _RunState, slots: asyncio.Semaphore
    ) -> None:
        try:
            if len(batch) > 1 and await self._send_batch(batch, state):
                return
            # One by one: each file gets its own outcome (sent, skipped because it vanished, or kept).
            for candidate in batch:
                if state.refused:
                    break
                await self._send(candidate, state, run)
        finally:
            slots.release()

    async def _send_batch(self, batch: list[_Candidate], state: _ItemState) -> bool:
        """Hand ``batch`` over in one call; False when it must be handed over file by file instead."""
        scratches: list[Path] = []
        try:
            if self.settings.compression:
                scratches = await asyncio.to_thread(self._compress_all, batch)
                files = [(scratch, f"{c.filename}.gz") for c, scratch in zip(batch, scratches, strict=True)]
            else:
                files = [(candidate.path, candidate.filename) for candidate in batch]
            # Without preserveFiles the sources are deleted once handed over, so the Norths may hard-link them
            # instead of copying them (a file still being written is left out by minAge).
            owned = self.settings.compression or not state.item.settings.preserve_files
            await self.sink.add_files(files, owned=owned)
        except (ContentRefused, OSError):
            # A file vanished, or a target is full: file by file tells which, and keeps the rest in order.
            return False
        finally:
            await self._discard(*scratches)
        await self._forget(batch, state)
        return True

    def _compress_all(self, batch: list[_Candidate]) -> list[Path]:
        """Gzip every file of ``batch`` into scratch files (runs in a thread); none are left on failure."""
        scratches: list[Path] = []
        try:
            for candidate in batch:
                scratch = self._tmp_folder / f"{uuid.uuid4().hex}{_SCRATCH_SUFFIX}"
                gzip_file(candidate.path, scratch)
                scratches.append(scratch)
        except BaseException:
            for scratch in scratches:
                scratch.unlink(missing_ok=True)
            raise
        return scratches

    async def _send(self, candidate: _Candidate, state: _ItemState, run: _RunState) -> None:
        scratch: Path | None = None
        try:
            if self.settings.compression:
                scratch = self._tmp_folder / f"{uuid.uuid4().hex}{_SCRATCH_SUFFIX}"
                await asyncio.to_thread(gzip_file, candidate.path, scratch)
                await self.sink.add_file(scratch, filename=f"{candidate.filename}.gz", owned=True)
            else:
                owned = not state.item.settings.preserve_files
                await self.sink.add_file(candidate.path, filename=candidate.filename, owned=owned)
        except ContentRefused as err:
            state.refused = True
            if not run.refusal_logged:
                run.refusal_logged = True
                self.context.logger.warning(
                    "files kept for next scan", item=state.item.name, file=candidate.filename, reason=str(err)
                )
            await self._discard(scratch)
            return
        except OSError as err:
            # The file vanished or became unreadable between listing and hand-over: skip it this time.
            state.skipped += 1
            self.context.logger.warning(
                "file skipped", item=state.item.name, path=str(candidate.path), error=_reason(err)
            )
            await self._discard(scratch)
            return
        await self._discard(scratch)
        await self._forget([candidate], state)

    async def _forget(self, handed_over: list[_Candidate], state: _ItemState) -> None:
        """Every target North has these files: delete them, or remember them when preserveFiles is set."""
        state.sent += len(handed_over)
        if state.item.settings.preserve_files:
            for candidate in handed_over:
                state.preserved[candidate.filename] = candidate.modified_ms
            state.dirty = True
            state.unsaved += len(handed_over)
            if state.unsaved >= max(_CHECKPOINT_MIN_FILES, len(state.preserved) // _CHECKPOINT_FRACTION):
                self._save_preserved(state)
            return
        failures = await asyncio.to_thread(_delete_all, [candidate.path for candidate in handed_over])
        for path, err in failures:
            # It will be sent again at the next scan: a duplicate, never a loss.
            self.context.logger.error("file not deleted", item=state.item.name, path=str(path), error=_reason(err))

    async def _discard(self, *scratches: Path | None) -> None:
        paths = [scratch for scratch in scratches if scratch is not None]
        if not paths:
            return
        for path, err in await asyncio.to_thread(_delete_all, paths):
            self.context.logger.warning("scratch file not deleted", path=str(path), error=_reason(err))

    def _list(self, settings: FolderScannerItemSettings) -> _Listing:
        """List the files matching ``settings.regex`` (runs in a thread)."""
        pattern = re.compile(settings.regex)
        listing = _Listing()
        pending: list[tuple[Path, str]] = [(self.input_folder, "")]
        while pending:
            folder, prefix = pending.pop()
            try:
                with os.scandir(folder) as entries:
                    for entry in entries:
                        self._consider(entry, prefix, pattern, settings, pending, listing)
            except OSError as err:
                if folder == self.input_folder:
                    raise ConnectorNotReady(f"input folder {folder} cannot be listed: {_reason(err)}") from err
                listing.problems.append((str(folder), _reason(err)))
        return listing

    @staticmethod
    def _consider(
        entry: os.DirEntry[str],
        prefix: str,
        pattern: re.Pattern[str],
        settings: FolderScannerItemSettings,
        pending: list[tuple[Path, str]],
        listing: _Listing,
    ) -> None:
        try:
            # Symbolic links to folders are not followed: a link loop would never end.
            if entry.is_dir(follow_symlinks=False):
                if settings.recursive:
                    pending.append((Path(entry.path), f"{prefix}{entry.name}/"))
                return
            if not entry.is_file() or not pattern.search(entry.name):
                return
            status = entry.stat()
        except OSError as err:
            listing.problems.append((entry.path, _reason(err)))
            return
        listing.files.append(
            _Candidate(
                path=Path(entry.path),
                filename=f"{prefix}{entry.name}",
                size=status.st_size,
                modified_ms=status.st_mtime_ns // 1_000_000,
            )
        )

    def _load_preserved(self, item: Item[FolderScannerItemSettings]) -> dict[str, int]:
        return load_preserved(self.cache, item.id)

    def _save_preserved(self, state: _ItemState) -> None:
        save_preserved(self.cache, state.item.id, state.preserved)
        state.unsaved = 0
        state.dirty = False


def _batches(files: list[_Candidate]) -> list[list[_Candidate]]:
    """Split ``files`` in order into batches of at most ``FILES_PER_BATCH`` files and ``BATCH_BYTES`` bytes."""
    batches: list[list[_Candidate]] = []
    batch: list[_Candidate] = []
    size = 0
    for candidate in files:
        if batch and (len(batch) >= FILES_PER_BATCH or size + candidate.size > BATCH_BYTES):
            batches.append(batch)
            batch, size = [], 0
        batch.append(candidate)
        size += candidate.size
    if batch:
        batches.append(batch)
    return batches


def _delete_all(paths: list[Path]) -> list[tuple[Path, OSError]]:
    """Delete files (runs in a thread); return those that could not be deleted, with why."""
    failures: list[tuple[Path, OSError]] = []
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as err:
            failures.append((path, err))
    return failures


def _reason(err: OSError) -> str:
    return err.strerror or str(err)
