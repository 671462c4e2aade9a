"""What the SFTP and FTP Souths share: item settings, and the scan of a remote folder over one session.

A scan lists the item's remote folder, selects files as the folder-scanner does (``file_filter``), downloads
each into the connector's private ``tmp/`` folder, hands it over as an owned scratch file, and only once every
target North stored it deletes the remote file (``preserveFiles`` false) or records it in the preserved list.
A lost session raises ``ConnectorConnectionError`` and is reported through ``context.connection_lost``: the
runner reconnects with backoff (STYLE R11), and the files not yet handed over are simply taken at the next scan.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from abc import abstractmethod
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Generic, Protocol, TypeVar

import msgspec

from connectors.base import ConnectorContext, Item, SouthCache, SouthConnector, TimeValue, ValueSink
from connectors.common.file_filter import (
    IgnoreModifiedDate,
    MaxFiles,
    MaxSize,
    MinAge,
    PreserveFiles,
    Recursive,
    gzip_file,
    iso_instant,
    load_preserved,
    save_preserved,
    select_files,
    valid_regex,
)
from connectors.errors import ConnectorConnectionError, ConnectorError, ContentRefused

__all__ = [
    "RemoteFile",
    "RemoteFolderClient",
    "RemoteFolderItemSettings",
    "RemoteFolderSouth",
    "RemoteRetryInterval",
    "RemoteVanished",
]

RemoteRetryInterval = Annotated[
    int,
    msgspec.Meta(
        ge=100,
        le=60_000,
        title="Retry interval",
        description="Accepted for compatibility; reconnection follows the engine's backoff (1 s doubling to 60 s).",
        extra={"unit": "ms"},
    ),
]


class RemoteFolderItemSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Which files of which remote folder an item takes, and what happens to them once handed over."""

    remote_folder: Annotated[
        str, msgspec.Meta(min_length=1, title="Remote folder", description="Folder on the server to scan.")
    ]
    regex: Annotated[
        str,
        msgspec.Meta(
            title="File name regex",
            description="Python regular expression searched in each file name (not anchored).",
        ),
    ] = ".*"
    min_age: MinAge = 1000
    preserve_files: PreserveFiles = True
    ignore_modified_date: IgnoreModifiedDate = False
    max_files: MaxFiles = 0
    max_size: MaxSize = 0
    recursive: Recursive = False

    def __post_init__(self) -> None:
        valid_regex(self.regex)


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """A matching file found on the server."""

    path: str  # Full remote path.
    filename: str  # Logical name: relative POSIX path below the remote folder.
    size: int
    modified_ms: int


class RemoteVanished(ConnectorError):
    """One remote file could not be read or deleted (gone, no permission); the session itself is fine."""


class RemoteFolderClient(Protocol):
    """One open session to a file server. Session failures raise ``ConnectorConnectionError``."""

    async def list_files(self, folder: str, pattern: re.Pattern[str], recursive: bool) -> list[RemoteFile]:
        """The regular files below ``folder`` whose name matches ``pattern``."""

    async def download(self, remote: str, local: Path) -> None:
        """Copy ``remote`` into the local file ``local`` (``RemoteVanished`` if it cannot be read)."""

    async def delete(self, remote: str) -> None:
        """Delete ``remote`` (``RemoteVanished`` if it cannot be)."""

    async def close(self) -> None:
        """Close the session; safe to call twice."""


S = TypeVar("S", bound=msgspec.Struct)
I = TypeVar("I", bound=RemoteFolderItemSettings)  # noqa: E741


class RemoteFolderSouth(SouthConnector[S, I], Generic[S, I]):
    """Hands over the files of each item's remote folder, oldest first, over one persistent session."""

    def __init__(self, settings: S, context: ConnectorContext, sink: ValueSink, cache: SouthCache) -> None:
        super().__init__(settings, context, sink, cache)
        self._tmp_folder = context.base_folder / "tmp"
        self._client: RemoteFolderClient | None = None

    @abstractmethod
    async def connect(self) -> RemoteFolderClient:
        """Open a session; raise ``ConnectorNotReady`` (server down, credentials refused) or ``ConnectorFatal``."""

    @property
    @abstractmethod
    def compression(self) -> bool:
        """Whether files are gzipped before they are handed over."""

    async def start(self) -> None:
        """Open the session and prepare the scratch folder."""
        await asyncio.to_thread(self._prepare)
        self._client = await self.connect()

    def _prepare(self) -> None:
        self._tmp_folder.mkdir(parents=True, exist_ok=True)
        # Downloads left by a crash: the server still has the originals.
        for leftover in self._tmp_folder.glob("*.download"):
            leftover.unlink(missing_ok=True)

    async def stop(self) -> None:
        """Close the session."""
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def test_connection(self) -> None:
        """Open a session and close it; the error names the server and the problem."""
        client = await self.connect()
        await client.close()

    async def last_file(self, items: list[Item[I]]) -> None:
        """Hand over the new files of each item (``lastFile`` mode)."""
        client = self._session()
        for item in items:
            try:
                await self._scan_item(client, item)
            except ConnectorConnectionError as err:
                self.context.connection_lost(str(err))
                raise

    async def test_item(self, item: Item[I], start: datetime, end: datetime) -> None:
        """Hand over, as time-values, the files the item would take now; download, delete or remember nothing."""
        del start, end  # A remote folder has no history.
        client = await self.connect()
        try:
            listing = await client.list_files(
                item.settings.remote_folder, re.compile(item.settings.regex), item.settings.recursive
            )
        finally:
            await client.close()
        preserved = load_preserved(self.cache, item.id) if item.settings.preserve_files else {}
        values: list[TimeValue] = [
            {"pointId": item.name, "timestamp": iso_instant(found.modified_ms), "data": {"value": found.filename}}
            for found in select_files(listing, preserved, item.settings)
        ]
        await self.sink.add_values(values, items=[item.id])

    def _session(self) -> RemoteFolderClient:
        if self._client is None:
            raise ConnectorConnectionError("not connected")
        return self._client

    async def _scan_item(self, client: RemoteFolderClient, item: Item[I]) -> None:
        settings = item.settings
        listing = await client.list_files(settings.remote_folder, re.compile(settings.regex), settings.recursive)
        preserved = load_preserved(self.cache, item.id) if settings.preserve_files else {}
        dirty = False
        if settings.preserve_files:
            # Forget files that left the folder: the list would otherwise grow forever.
            present = {found.filename for found in listing}
            for name in [name for name in preserved if name not in present]:
                del preserved[name]
                dirty = True
        sent = skipped = 0
        try:
            for found in select_files(listing, preserved, settings):
                try:
                    await self._hand_over(client, found)
                except RemoteVanished as err:
                    skipped += 1
                    self.context.logger.warning("file skipped", item=item.name, path=found.path, error=str(err))
                    continue
                except ContentRefused as err:
                    # The Norths are full: the rest would be refused too. They stay on the server.
                    self.context.logger.warning(
                        "files kept for next scan", item=item.name, file=found.filename, reason=str(err)
                    )
                    break
                sent += 1
                if settings.preserve_files:
                    preserved[found.filename] = found.modified_ms
                    dirty = True
                else:
                    await self._delete(client, item, found)
        finally:
            if dirty:
                save_preserved(self.cache, item.id, preserved)
        if sent or skipped:
            self.context.logger.info("files sent", item=item.name, sent=sent, skipped=skipped)

    async def _hand_over(self, client: RemoteFolderClient, found: RemoteFile) -> None:
        download = self._tmp_folder / f"{uuid.uuid4().hex}.download"
        scratch: Path | None = None
        try:
            await client.download(found.path, download)
            if self.compression:
                scratch = download.with_suffix(".gz")
                await asyncio.to_thread(gzip_file, download, scratch, found.filename.rsplit("/", 1)[-1])
                await self.sink.add_file(scratch, filename=f"{found.filename}.gz", owned=True)
            else:
                await self.sink.add_file(download, filename=found.filename, owned=True)
        finally:
            await asyncio.to_thread(_discard, download, scratch)

    async def _delete(self, client: RemoteFolderClient, item: Item[I], found: RemoteFile) -> None:
        try:
            await client.delete(found.path)
        except RemoteVanished as err:
            # It will be sent again at the next scan: a duplicate, never a loss.
            self.context.logger.error("file not deleted", item=item.name, path=found.path, error=str(err))


def _discard(*paths: Path | None) -> None:
    for path in paths:
        if path is not None:
            path.unlink(missing_ok=True)
