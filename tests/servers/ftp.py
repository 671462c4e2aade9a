"""An in-process aioftp FTP server rooted in a folder, counting login attempts, restartable on its port."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import aioftp

__all__ = ["FtpServer"]


class _CountingUsers(aioftp.MemoryUserManager):
    def __init__(self, users: list[aioftp.User]) -> None:
        super().__init__(users)
        self.attempts = 0

    async def authenticate(self, user: aioftp.User, password: str) -> bool:
        self.attempts += 1
        return await super().authenticate(user, password)


@dataclass
class FtpServer:
    """``async with FtpServer(root, users={"u": "p"}, anonymous=False) as server: server.port``."""

    root: Path
    users: dict[str, str] = field(default_factory=dict)
    anonymous: bool = False
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
        self._server = aioftp.Server(self._manager, path_io_factory=aioftp.AsyncPathIO)
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
