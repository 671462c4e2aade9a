"""SFTP North connector: uploads each file (or values batch as JSON) into a remote folder, atomically."""

from __future__ import annotations

import asyncio
import posixpath
import secrets
import tempfile
from pathlib import Path

import msgspec

from connectors.base import ConnectorContext, NorthConnector, TimeValue
from connectors.common.file_naming import decorate, output_name
from connectors.common.remote_folder import RemoteVanished
from connectors.common.sftp import SftpSession, open_session
from connectors.errors import ConnectorConnectionError, SendError
from connectors.north.sftp.manifest import MANIFEST, SftpNorthSettings

__all__ = ["SftpNorth"]


class SftpNorth(NorthConnector[SftpNorthSettings]):
    """Uploads files renamed ``prefix + name + suffix + extension`` into ``remoteFolder`` over one session.

    A file is written under a temporary name and renamed once complete, so readers on the server never see
    half a file. A lost session is a transient failure (``SendError(retry_forever=True)``) and is reported so
    the runner reconnects; a write the server refuses (permission, missing folder) counts towards the cache's
    retries, then the entry goes to ``error/``.
    """

    manifest = MANIFEST

    def __init__(self, settings: SftpNorthSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self._session: SftpSession | None = None

    async def start(self) -> None:
        """Open the session and check the remote folder."""
        session = await open_session(self.settings)
        try:
            await session.check_folder(self.settings.remote_folder)
        except BaseException:
            await session.close()
            raise
        self._session = session

    async def stop(self) -> None:
        """Close the session."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def test_connection(self) -> None:
        """Open a session and check the remote folder; the error names the server and the problem."""
        session = await open_session(self.settings)
        try:
            await session.check_folder(self.settings.remote_folder)
        finally:
            await session.close()

    async def handle_file(self, path: Path, filename: str) -> None:
        """Upload ``path`` as ``prefix + base name + suffix + extension``."""
        name = output_name(
            filename, prefix=self.settings.prefix, suffix=self.settings.suffix, connector_name=self.context.name
        )
        await self._upload(path, name)

    async def handle_values_json(self, data: bytes) -> None:
        """Upload the cached JSON array as it is, as ``prefix + <random id> + suffix + .json``."""
        name = decorate(
            secrets.token_hex(6),
            ".json",
            prefix=self.settings.prefix,
            suffix=self.settings.suffix,
            connector_name=self.context.name,
        )
        with tempfile.TemporaryDirectory(prefix="oibus-sftp-") as scratch:
            local = Path(scratch) / name
            await asyncio.to_thread(local.write_bytes, data)
            await self._upload(local, name)

    async def handle_values(self, values: list[TimeValue]) -> None:
        """Upload the batch as a JSON array."""
        await self.handle_values_json(msgspec.json.encode(values))

    async def _upload(self, local: Path, name: str) -> None:
        if self._session is None:
            raise SendError("sftp session not open", retry_forever=True)
        remote = posixpath.join(self.settings.remote_folder, name)
        if not await asyncio.to_thread(local.is_file):
            # The cache entry itself is gone: retrying cannot help. Checked first, because the library reports
            # a local read failure as an OSError, like a lost session.
            raise SendError(f"cache file {local} cannot be read")
        try:
            await self._session.upload(local, remote)
        except ConnectorConnectionError as err:
            self.context.connection_lost(str(err))
            raise SendError(str(err), retry_forever=True) from err
        except RemoteVanished as err:
            raise SendError(f"sftp server {self._session.where} refused to write {err}") from err
        self.context.logger.debug("file uploaded", remote=remote)
