"""SFTP glue shared by the SFTP South and North: connection settings, connecting, and error translation.

asyncssh is imported only here (and lazily by the connectors that use it). It never reconnects by itself:
a lost session is reported and the engine's runner reconnects with backoff (STYLE R11).
"""

from __future__ import annotations

import posixpath
import re
import stat
from pathlib import Path
from typing import Annotated, Any, Literal

import asyncssh
import msgspec

from connectors.common.remote_folder import RemoteFile, RemoteVanished
from connectors.errors import ConnectorConnectionError, ConnectorFatal, ConnectorNotReady
from connectors.manifest import OptionalSecret

__all__ = [
    "CONNECT_TIMEOUT_S",
    "SftpAuthentication",
    "SftpHost",
    "SftpPassphrase",
    "SftpPassword",
    "SftpPort",
    "SftpPrivateKey",
    "SftpSession",
    "SftpUsername",
    "check_credentials",
    "open_session",
]

CONNECT_TIMEOUT_S = 15.0
"""TCP connection plus SSH handshake and authentication, at most."""

SftpHost = Annotated[str, msgspec.Meta(min_length=1, title="Host", description="SFTP server name or address.")]
SftpPort = Annotated[int, msgspec.Meta(ge=1, le=65535, title="Port", description="SFTP server port.")]
SftpAuthentication = Annotated[
    Literal["password", "private-key"],
    msgspec.Meta(title="Authentication", description="password, or private-key (an OpenSSH/PEM key file)."),
]
SftpUsername = Annotated[str, msgspec.Meta(min_length=1, title="Username", description="Account on the server.")]
SftpPassword = Annotated[OptionalSecret, msgspec.Meta(title="Password", description="With password authentication.")]
SftpPrivateKey = Annotated[
    str | None,
    msgspec.Meta(title="Private key", description="Path of the private key file, with private-key authentication."),
]
SftpPassphrase = Annotated[
    OptionalSecret, msgspec.Meta(title="Passphrase", description="Passphrase of the private key, if it has one.")
]


def check_credentials(authentication: str, private_key: str | None) -> None:
    """Raise ``ValueError`` when private-key authentication names no key (from a settings ``__post_init__``)."""
    if authentication == "private-key" and not private_key:
        raise ValueError("privateKey is required with private-key authentication")


def _where(settings: Any) -> str:
    return f"{settings.username}@{settings.host}:{settings.port}"


async def open_session(settings: Any) -> SftpSession:
    """Connect and authenticate once (no retry here: the runner owns retries); raise our errors, naming the server.

    ``settings`` has ``host, port, authentication, username, password, private_key, passphrase``.
    """
    where = _where(settings)
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "username": settings.username,
        # Upstream does not check host keys either; an operator who needs it pins the server by network.
        "known_hosts": None,
        "agent_path": None,
        "connect_timeout": CONNECT_TIMEOUT_S,
        "login_timeout": CONNECT_TIMEOUT_S,
    }
    if settings.authentication == "private-key":
        options["client_keys"] = [_read_key(settings.private_key, settings.passphrase)]
        options["password"] = None
        options["preferred_auth"] = "publickey"
    else:
        options["client_keys"] = None
        options["password"] = settings.password or ""
        options["preferred_auth"] = "password,keyboard-interactive"
    try:
        connection = await asyncssh.connect(**options)
    except asyncssh.PermissionDenied as err:
        # Retried with the runner's backoff (the account may be fixed on the server), never in a tight loop.
        raise ConnectorNotReady(f"sftp server {where} refused the credentials ({settings.authentication})") from err
    except (OSError, asyncssh.Error, TimeoutError) as err:
        raise ConnectorNotReady(f"sftp server {where} cannot be reached: {_reason(err)}") from err
    try:
        client = await connection.start_sftp_client()
    except (OSError, asyncssh.Error) as err:
        connection.close()
        raise ConnectorNotReady(f"sftp server {where} refused the sftp subsystem: {_reason(err)}") from err
    return SftpSession(connection, client, where)


def _read_key(path: str | None, passphrase: str | None) -> asyncssh.SSHKey:
    if not path:
        raise ConnectorFatal("privateKey is required with private-key authentication")
    try:
        return asyncssh.read_private_key(Path(path).expanduser(), passphrase or None)
    except FileNotFoundError:
        raise ConnectorNotReady(f"private key file {path} does not exist") from None
    except OSError as err:
        raise ConnectorNotReady(f"private key file {path} cannot be read: {_reason(err)}") from err
    except (asyncssh.KeyImportError, ValueError) as err:
        raise ConnectorFatal(f"private key file {path} cannot be loaded (wrong passphrase or format)") from err


# Status codes that mean the session itself is gone, whatever the operation was.
_SESSION_GONE = (asyncssh.SFTPConnectionLost, asyncssh.SFTPNoConnection)


class SftpSession:
    """One authenticated SFTP session; session failures become ``ConnectorConnectionError``."""

    def __init__(self, connection: asyncssh.SSHClientConnection, client: asyncssh.SFTPClient, where: str) -> None:
        self._connection = connection
        self._client = client
        self.where = where

    async def close(self) -> None:
        """Close the session; safe to call twice."""
        self._client.exit()
        self._connection.close()
        await self._connection.wait_closed()

    async def list_files(self, folder: str, pattern: re.Pattern[str], recursive: bool) -> list[RemoteFile]:
        """The regular files below ``folder`` whose name matches ``pattern`` (sub-folders with ``recursive``)."""
        found: list[RemoteFile] = []
        pending: list[tuple[str, str]] = [(folder, "")]
        while pending:
            current, prefix = pending.pop()
            try:
                entries = await self._client.readdir(current)
            except _SESSION_GONE as err:
                raise self._lost(err) from err
            except asyncssh.SFTPNoSuchFile as err:
                if current == folder:
                    raise ConnectorNotReady(f"remote folder {folder} does not exist on {self.where}") from err
                continue
            except asyncssh.SFTPError as err:
                if current == folder:
                    raise ConnectorNotReady(f"remote folder {folder} cannot be listed: {err.reason}") from err
                continue
            except (OSError, asyncssh.Error) as err:
                raise self._lost(err) from err
            for entry in entries:
                name = str(entry.filename)
                if name in (".", ".."):
                    continue
                attrs = entry.attrs
                mode = attrs.permissions or 0
                if attrs.type == asyncssh.FILEXFER_TYPE_DIRECTORY or stat.S_ISDIR(mode):
                    if recursive:
                        pending.append((posixpath.join(current, name), f"{prefix}{name}/"))
                    continue
                if not (attrs.type == asyncssh.FILEXFER_TYPE_REGULAR or stat.S_ISREG(mode)):
                    continue
                if not pattern.search(name):
                    continue
                modified = attrs.mtime or 0
                modified_ns = attrs.mtime_ns
                modified_ms = modified_ns // 1_000_000 if modified_ns else int(modified * 1000)
                found.append(
                    RemoteFile(
                        path=posixpath.join(current, name),
                        filename=f"{prefix}{name}",
                        size=attrs.size or 0,
                        modified_ms=modified_ms,
                    )
                )
        return found

    async def download(self, remote: str, local: Path) -> None:
        """Copy ``remote`` into ``local``."""
        try:
            await self._client.get(remote, str(local))
        except _SESSION_GONE as err:
            raise self._lost(err) from err
        except asyncssh.SFTPError as err:
            raise RemoteVanished(err.reason) from err
        except (OSError, asyncssh.Error) as err:
            raise self._lost(err) from err

    async def delete(self, remote: str) -> None:
        """Delete ``remote``."""
        try:
            await self._client.remove(remote)
        except _SESSION_GONE as err:
            raise self._lost(err) from err
        except asyncssh.SFTPError as err:
            raise RemoteVanished(err.reason) from err
        except (OSError, asyncssh.Error) as err:
            raise self._lost(err) from err

    async def upload(self, local: Path, remote: str) -> None:
        """Write ``local`` to ``remote`` under a temporary name, then rename it, so readers never see half a file.

        ``RemoteVanished`` when the server refuses the write (permission, missing folder), ``ConnectorConnectionError``
        when the session is lost.
        """
        partial = f"{remote}.oibus-partial"
        try:
            await self._client.put(str(local), partial)
            try:
                await self._client.posix_rename(partial, remote)
            except asyncssh.SFTPOpUnsupported:
                # A server without the posix-rename extension: plain rename refuses an existing target.
                if await self._client.exists(remote):
                    await self._client.remove(remote)
                await self._client.rename(partial, remote)
        except _SESSION_GONE as err:
            raise self._lost(err) from err
        except asyncssh.SFTPError as err:
            raise RemoteVanished(f"{remote}: {err.reason}") from err
        except (OSError, asyncssh.Error) as err:
            raise self._lost(err) from err

    async def check_folder(self, folder: str) -> None:
        """Raise ``ConnectorNotReady`` unless ``folder`` is a folder on the server."""
        try:
            if not await self._client.isdir(folder):
                raise ConnectorNotReady(f"remote folder {folder} does not exist on {self.where}")
        except _SESSION_GONE as err:
            raise self._lost(err) from err
        except asyncssh.SFTPError as err:
            raise ConnectorNotReady(f"remote folder {folder} cannot be read: {err.reason}") from err
        except (OSError, asyncssh.Error) as err:
            raise self._lost(err) from err

    def _lost(self, err: BaseException) -> ConnectorConnectionError:
        return ConnectorConnectionError(f"sftp session to {self.where} lost: {_reason(err)}")


def _reason(err: BaseException) -> str:
    if isinstance(err, asyncssh.Error):
        return err.reason or type(err).__name__
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err) or type(err).__name__
