"""File-writer North connector: writes files and time-values into a folder, atomically."""

from __future__ import annotations

import asyncio
import errno
import os
import secrets
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import msgspec

from connectors.base import ConnectorContext, NorthConnector, TimeValue
from connectors.common.file_naming import current_date, decorate, output_name
from connectors.errors import ConnectorFatal, ConnectorNotReady, SendError
from connectors.north.file_writer.manifest import MANIFEST, FileWriterSettings

__all__ = ["FileWriterNorth", "current_date"]

_PERMANENT_ERRNOS = frozenset({errno.ENAMETOOLONG, errno.EINVAL})


class FileWriterNorth(NorthConnector[FileWriterSettings]):
    """Writes each file (renamed ``prefix + name + suffix + extension``) or values batch (JSON) to a folder.

    A file is written under a temporary hidden name in the output folder, flushed to disk, then renamed, so
    readers never see a partial file and a confirmed file survives a power cut. A missing or unwritable
    folder raises ``SendError(retry_forever=True)``: the entry stays in the cache until the folder is back.
    """

    manifest = MANIFEST
    supports_file_batches = True

    def __init__(self, settings: FileWriterSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self.output_folder = context.resolve(settings.output_folder)

    async def start(self) -> None:
        """Nothing to connect; a missing folder is reported per entry so that data waits in the cache."""
        if self.settings.username or self.settings.password or self.settings.domain:
            self.context.logger.warning(
                "smb credentials ignored", folder=str(self.output_folder), reason="mount the share instead"
            )

    async def stop(self) -> None:
        """Nothing to release."""

    async def test_connection(self) -> None:
        """Raise ``ConnectorNotReady``/``ConnectorFatal`` naming the folder when it cannot be written to."""
        await asyncio.to_thread(self._check_folder)

    def _check_folder(self) -> None:
        folder = self.output_folder
        if not folder.exists():
            raise ConnectorNotReady(f"output folder {folder} does not exist")
        if not folder.is_dir():
            raise ConnectorFatal(f"output folder {folder} is not a folder")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise ConnectorNotReady(f"output folder {folder} is not writable: permission denied")

    async def handle_file(self, path: Path, filename: str) -> None:
        """Copy the file at ``path`` into the output folder under its decorated name."""
        name = self._output_name(filename)
        await asyncio.to_thread(self._write_batch, [path], [name])
        self.context.logger.debug("file written", filename=filename, name=name)

    async def handle_files(self, files: list[tuple[Path, str]]) -> None:
        """Write several files, with far fewer disk round trips than one at a time.

        Each is hard-linked from the cache under its final name (or copied, flushed and renamed when that
        is impossible), in order, then the folder is flushed once, all in one worker thread. When one fails,
        those before it are already written (they are written again at the retry, replacing themselves).
        """
        names = [self._output_name(filename) for _, filename in files]
        await asyncio.to_thread(self._write_batch, [path for path, _ in files], names)

    def _write_batch(self, paths: list[Path], names: list[str]) -> None:
        try:
            for path, name in zip(paths, names, strict=True):
                self._place(path, name)
        finally:
            # Also after a failure: the files placed before it are delivered, so make them durable.
            _sync_folder(self.output_folder)

    def _place(self, path: Path, name: str) -> None:
        """Put the cached file at ``path`` into the output folder as ``name`` (runs in a thread).

        A hard link under the final name shows the whole file at once, writes no data and renames
        nothing: the cache already made the content durable, so only the folder needs flushing. When a
        file of that name exists (it is replaced, atomically) or links are impossible (a mounted share),
        the file goes through a temporary name instead.
        """
        target = self.output_folder / name
        try:
            os.link(path, target)
        except FileNotFoundError as err:
            raise self._unreadable(path, err) from err
        except FileExistsError:
            # Already this very file (a batch sent again after a failure): a rename onto another link of
            # the same inode would do nothing and leave the temporary name behind.
            if not _same_file(path, target):
                self._rename(self._stage_copy(path, name), name)
        except OSError:
            self._rename(self._stage_copy(path, name), name)

    def _unreadable(self, path: Path, err: OSError) -> SendError:
        """The error for a failed link from the cache: the output folder is gone, or the cache file."""
        if not self.output_folder.is_dir():
            return SendError(
                f"output folder {self.output_folder} does not exist or is not a folder", retry_forever=True
            )
        # The cache entry itself is unreadable: retrying cannot help, let it reach error/.
        return SendError(f"cache file {path} cannot be read: {_reason(err)}")

    def _output_name(self, filename: str) -> str:
        return output_name(
            filename, prefix=self.settings.prefix, suffix=self.settings.suffix, connector_name=self.context.name
        )

    async def handle_values_json(self, data: bytes) -> None:
        """Write the cached JSON array as it is: no decode, no encode."""
        name = self._decorate(secrets.token_hex(6), ".json")
        await asyncio.to_thread(self._write, name, lambda target: target.write(data))
        self.context.logger.debug("values written", name=name)

    async def handle_content(self, content_type: str, data: bytes) -> None:
        """Write setpoints (``[{"reference", "value"}]``) as their JSON array, named like a values batch."""
        if content_type != "setpoint":
            raise SendError(f"content type {content_type!r} cannot be written by the file-writer")
        name = self._decorate(secrets.token_hex(6), ".json")
        await asyncio.to_thread(self._write, name, lambda target: target.write(data))
        self.context.logger.debug("setpoints written", name=name)

    async def handle_values(self, values: list[TimeValue]) -> None:
        """Write the batch as a JSON array into a new file ``prefix + <random id> + suffix + .json``."""
        name = self._decorate(secrets.token_hex(6), ".json")
        await asyncio.to_thread(self._write, name, lambda target: target.write(msgspec.json.encode(values)))
        self.context.logger.debug("values written", count=len(values), name=name)

    def _decorate(self, stem: str, extension: str) -> str:
        return decorate(
            stem, extension, prefix=self.settings.prefix, suffix=self.settings.suffix, connector_name=self.context.name
        )

    def _write(self, name: str, fill: Callable[[BinaryIO], object]) -> None:
        """Write ``name`` atomically into the output folder (runs in a thread)."""
        self._rename(self._stage(name, fill), name)
        _sync_folder(self.output_folder)

    def _stage_copy(self, path: Path, name: str) -> Path:
        """Put the cached file under a temporary name: a hard link if possible, else a flushed copy."""
        temporary = self.output_folder / f".oibus-{uuid.uuid4().hex}.tmp"
        try:
            os.link(path, temporary)
        except FileNotFoundError as err:
            raise self._unreadable(path, err) from err
        except OSError:
            pass
        else:
            return temporary
        try:
            source = path.open("rb")
        except OSError as err:
            raise self._unreadable(path, err) from err
        with source:
            return self._stage(name, lambda target: shutil.copyfileobj(source, target, 1 << 20))

    def _stage(self, name: str, fill: Callable[[BinaryIO], object]) -> Path:
        """Write and flush the content under a temporary name in the output folder (runs in a thread)."""
        folder = self.output_folder
        if not folder.is_dir():
            raise SendError(f"output folder {folder} does not exist or is not a folder", retry_forever=True)
        # A short hidden temporary name: readers skip it, and it fits whatever the length of the final name.
        temporary = folder / f".oibus-{uuid.uuid4().hex}.tmp"
        try:
            with temporary.open("xb") as target:
                fill(target)
                target.flush()
                os.fsync(target.fileno())
        except OSError as err:
            temporary.unlink(missing_ok=True)
            raise _send_error(name, folder, err) from err
        return temporary

    def _rename(self, temporary: Path, name: str) -> None:
        """Give a staged file its name (the caller flushes the folder)."""
        try:
            os.replace(temporary, self.output_folder / name)
        except OSError as err:
            temporary.unlink(missing_ok=True)
            raise _send_error(name, self.output_folder, err) from err


def _send_error(name: str, folder: Path, err: OSError) -> SendError:
    # A name the file system refuses will be refused forever; anything else (folder gone, disk full,
    # permissions) can heal, so the entry waits in the cache.
    transient = err.errno not in _PERMANENT_ERRNOS
    return SendError(f"cannot write {name} into output folder {folder}: {_reason(err)}", retry_forever=transient)


def _sync_folder(folder: Path) -> None:
    """Make the rename durable (POSIX); best effort, since some file systems (SMB, FAT) refuse it."""
    if os.name != "posix":
        return
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def _same_file(first: Path, second: Path) -> bool:
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


def _reason(err: OSError) -> str:
    return err.strerror or str(err)
