"""An in-process aioftp FTP server rooted in a folder, counting login attempts, restartable on its port."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import aioftp

__all__ = ["FtpServer"]


class _CountingUsers(aioftp.MemoryUserManager):
    def __init__(self, users: list[aioftp.User]) -> None:
        super().__init__(users)
        self.attempts = 0

    async def authenticate(self, user: aioftp.User, password: str) -> bool:
        self.attempts += 1
        return await super().authenticate(user, password)


class _ExplicitTlsServer(aioftp.Server):
    """aioftp's server plus ``AUTH TLS``, which it lacks (it only knows implicit TLS).

    The control connection is upgraded in place; passive data connections use TLS once a client asked for it.
    """

    control_tls: ssl.SSLContext | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands_mapping["auth"] = self.auth
        # RFC 4217 lets PBSZ/PROT come right after AUTH, before USER, as most clients send them.
        self.commands_mapping["pbsz"] = self._pbsz
        self.commands_mapping["prot"] = self._prot

    async def _pbsz(self, connection: aioftp.Connection, rest: str | PurePosixPath) -> bool:
        connection.response("200", "PBSZ=0")
        return True

    async def _prot(self, connection: aioftp.Connection, rest: str | PurePosixPath) -> bool:
        connection.response(*(("200", "protection private") if str(rest) == "P" else ("536", "only P")))
        return True

    async def auth(self, connection: aioftp.Connection, rest: str | PurePosixPath) -> bool:
        if self.control_tls is None or str(rest).upper() not in ("TLS", "SSL"):
            connection.response("502", "AUTH not supported")
            return True
        stream = connection.command_connection
        # Written directly (not queued) so that it leaves before the handshake starts on the same socket.
        await stream.write(b"234 AUTH TLS successful\r\n")
        await stream.start_tls(self.control_tls, None)
        self.ssl = self.control_tls  # Passive data servers started from now on wrap their sockets.
        return True


@dataclass
class FtpServer:
    """``async with FtpServer(root, users={"u": "p"}, tls=server_context) as server: server.port``."""

    root: Path
    users: dict[str, str] = field(default_factory=dict)
    anonymous: bool = False
    tls: ssl.SSLContext | None = None
    port: int = 0
    _manager: _CountingUsers | None = None
    _server: aioftp.Server | None = None

    @property
    def auth_attempts(self) -> int:
        """Password checks the server made since it was first started."""
        return self._manager.attempts if self._manager else 0

    async def start(self) -> None:
        """Listen on loopback (a kernel-assigned port the first time, the same port after a restart)."""
        if self._manager is None:
            permissions = [aioftp.Permission("/", readable=True, writable=True)]
            accounts = [
                aioftp.User(login, password, home_path="/", base_path=self.root, permissions=permissions)
                for login, password in self.users.items()
            ]
            if self.anonymous:
                accounts.append(aioftp.User(home_path="/", base_path=self.root, permissions=permissions))
            self._manager = _CountingUsers(accounts)
        self._server = _ExplicitTlsServer(self._manager, path_io_factory=aioftp.AsyncPathIO)
        self._server.control_tls = self.tls
        await self._server.start("127.0.0.1", self.port)
        self.port = self._server.address[1]

    async def stop(self) -> None:
        """Stop listening and drop every session."""
        if self._server is not None:
            await self._server.close()
            self._server = None

    async def __aenter__(self) -> FtpServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
