"""aioftp glue of the FTP South: one logged-in session, library errors translated into ours."""

from __future__ import annotations

import posixpath
import re
import ssl
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import aioftp

from connectors.common.remote_folder import RemoteFile, RemoteVanished
from connectors.errors import ConnectorConnectionError, ConnectorNotReady

__all__ = ["TIMEOUT_S", "FtpSession", "open_session"]

TIMEOUT_S = 15.0
"""Connection, and each command or data transfer, at most."""

# Codes of a refused login: 530 (not logged in), 430 (invalid user name or password).
_LOGIN_REFUSED = ("530", "430")


async def open_session(settings: Any) -> FtpSession:
    """Connect and log in once (the runner owns retries); raise our errors, naming the server.

    ``settings`` has ``host, port, authentication, username, password``.
    """
    anonymous = settings.authentication == "none"
    user = "anonymous" if anonymous else settings.username
    where = f"{user}@{settings.host}:{settings.port}"
    client = aioftp.Client(
        socket_timeout=TIMEOUT_S,
        connection_timeout=TIMEOUT_S,
        path_timeout=TIMEOUT_S,
        path_io_factory=aioftp.AsyncPathIO,
    )
    try:
        await client.connect(settings.host, settings.port)
    except (OSError, TimeoutError, aioftp.AIOFTPException) as err:
        client.close()
        raise ConnectorNotReady(f"ftp server {where} cannot be reached: {_reason(err)}") from err
    if settings.explicit_tls:
        await _upgrade(client, settings, where)
    try:
        await client.login(user, "anonymous@" if anonymous else (settings.password or ""))
    except aioftp.StatusCodeError as err:
        client.close()
        if any(str(code) in _LOGIN_REFUSED for code in err.received_codes):
            raise ConnectorNotReady(f"ftp server {where} refused the credentials") from err
        raise ConnectorNotReady(f"ftp server {where} refused the login: {_reason(err)}") from err
    except (OSError, TimeoutError, aioftp.AIOFTPException) as err:
        client.close()
        raise ConnectorNotReady(f"ftp server {where} cannot be reached: {_reason(err)}") from err
    return FtpSession(client, where)


async def _upgrade(client: aioftp.Client, settings: Any, where: str) -> None:
    """AUTH TLS, then PBSZ/PROT P: the control and every data connection are encrypted."""
    context = ssl.create_default_context()
    if settings.accept_unauthorized:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        await client.upgrade_to_tls(context)
    except aioftp.StatusCodeError as err:
        client.close()
        raise ConnectorNotReady(f"ftp server {where} does not offer explicit TLS: {_reason(err)}") from err
    except ssl.SSLError as err:
        client.close()
        raise ConnectorNotReady(f"ftp server {where} TLS handshake failed: {err.reason or err}") from err
    except (OSError, TimeoutError, aioftp.AIOFTPException) as err:
        client.close()
        raise ConnectorNotReady(f"ftp server {where} cannot be reached: {_reason(err)}") from err


class FtpSession:
    """One logged-in FTP session; session failures become ``ConnectorConnectionError``."""

    def __init__(self, client: aioftp.Client, where: str) -> None:
        self._client = client
        self.where = where

    async def close(self) -> None:
        """Say goodbye and close; safe to call twice and on a dead session."""
        try:
            await self._client.quit()
        except (OSError, TimeoutError, aioftp.AIOFTPException):
            pass
        finally:
            self._client.close()

    async def list_files(self, folder: str, pattern: re.Pattern[str], recursive: bool) -> list[RemoteFile]:
        """The regular files below ``folder`` whose name matches ``pattern`` (sub-folders with ``recursive``)."""
        found: list[RemoteFile] = []
        pending: list[tuple[str, str]] = [(folder, "")]
        while pending:
            current, prefix = pending.pop()
            try:
                entries = await self._client.list(current)
            except aioftp.StatusCodeError as err:
                if current == folder:
                    raise ConnectorNotReady(
                        f"remote folder {folder} cannot be listed on {self.where}: {_reason(err)}"
                    ) from err
                continue
            except (OSError, TimeoutError, aioftp.AIOFTPException) as err:
                raise self._lost(err) from err
            for path, info in entries:
                name = PurePosixPath(path).name
                kind = info.get("type")
                if kind == "dir":
                    if recursive:
                        pending.append((posixpath.join(current, name), f"{prefix}{name}/"))
                    continue
                if kind != "file" or not pattern.search(name):
                    continue
                found.append(
                    RemoteFile(
                        path=posixpath.join(current, name),
                        filename=f"{prefix}{name}",
                        size=int(info.get("size") or 0),
                        modified_ms=_modified_ms(str(info.get("modify") or "")),
                    )
                )
        return found

    async def download(self, remote: str, local: Path) -> None:
        """Copy ``remote`` into ``local``."""
        try:
            await self._client.download(remote, str(local), write_into=True)
        except aioftp.StatusCodeError as err:
            raise RemoteVanished(_reason(err)) from err
        except (OSError, TimeoutError, aioftp.AIOFTPException) as err:
            raise self._lost(err) from err

    async def delete(self, remote: str) -> None:
        """Delete ``remote``."""
        try:
            await self._client.remove_file(remote)
        except aioftp.StatusCodeError as err:
            raise RemoteVanished(_reason(err)) from err
        except (OSError, TimeoutError, aioftp.AIOFTPException) as err:
            raise self._lost(err) from err

    def _lost(self, err: BaseException) -> ConnectorConnectionError:
        return ConnectorConnectionError(f"ftp session to {self.where} lost: {_reason(err)}")


def _modified_ms(modify: str) -> int:
    """Milliseconds of an MLSD ``modify`` fact (``YYYYMMDDHHMMSS[.sss]``, UTC); 0 when absent or malformed."""
    whole, _, fraction = modify.partition(".")
    try:
        moment = datetime.strptime(whole, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return 0
    milliseconds = int((fraction + "000")[:3]) if fraction.isdigit() else 0
    return int(moment.timestamp()) * 1000 + milliseconds


def _reason(err: BaseException) -> str:
    if isinstance(err, aioftp.StatusCodeError):
        return f"{', '.join(str(code) for code in err.received_codes)} {' '.join(err.info)}".strip()
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err) or type(err).__name__
