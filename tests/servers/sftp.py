"""An in-process asyncssh SFTP server rooted in a folder, with password and public-key logins.

It counts authentication attempts (``auth_attempts``) so that tests can show a refused login is not retried
in a storm, and it can be stopped and started again on the same port to show no file is lost across a
server restart.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh

__all__ = ["SftpServer"]


@dataclass
class SftpServer:
    """``async with SftpServer(root, users={"u": "p"}, keys={"u": public_key}) as server: server.port``."""

    root: Path
    users: dict[str, str] = field(default_factory=dict)
    keys: dict[str, asyncssh.SSHKey] = field(default_factory=dict)
    port: int = 0
    auth_attempts: int = 0
    _host_key: asyncssh.SSHKey = field(default_factory=lambda: asyncssh.generate_private_key("ssh-ed25519"))
    _acceptor: Any = None
    _connections: list[asyncssh.SSHServerConnection] = field(default_factory=list)

    async def start(self) -> None:
        """Listen on loopback (a kernel-assigned port the first time, the same port after a restart)."""
        server = self

        class _Server(asyncssh.SSHServer):
            def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
                server._connections.append(conn)

            def begin_auth(self, username: str) -> bool:
                return True

            def password_auth_supported(self) -> bool:
                return True

            def validate_password(self, username: str, password: str) -> bool:
                server.auth_attempts += 1
                return server.users.get(username) == password

            def public_key_auth_supported(self) -> bool:
                return True

            def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
                server.auth_attempts += 1
                expected = server.keys.get(username)
                return expected is not None and expected.export_public_key() == key.export_public_key()

        def _sftp(chan: asyncssh.SSHServerChannel[bytes]) -> asyncssh.SFTPServer:
            return asyncssh.SFTPServer(chan, chroot=os.fsencode(self.root))

        self._acceptor = await asyncssh.listen(
            "127.0.0.1",
            self.port,
            server_host_keys=[self._host_key],
            server_factory=_Server,
            sftp_factory=_sftp,
            allow_scp=False,
            reuse_address=True,
        )
        self.port = self._acceptor.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and drop every session."""
        if self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.wait_closed()
            self._acceptor = None
        for conn in self._connections:
            conn.close()
        await asyncio.gather(*(conn.wait_closed() for conn in self._connections), return_exceptions=True)
        self._connections.clear()

    async def __aenter__(self) -> SftpServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
