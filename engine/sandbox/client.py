"""The engine's side of the sandbox process: start it on first use, send it runs, restart it if it dies.

Requests go one at a time (a lock): V8 runs one script per isolate anyway, and one process keeps the memory
bill at one V8. V8 enforces each run's limits itself; the wall-clock guard here (the time limit plus
``GRACE_S``) is for a process that stopped answering altogether: it is killed, the caller gets a
``SANDBOX_ERROR``, and the next run starts a fresh process.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
from typing import Any

import structlog

from engine.sandbox.protocol import HEADER, MAX_FRAME, RESULT, RunRequest, RunResult, frame_into
from engine.supervisor.process import escalate_stop, kill_tree

log = structlog.get_logger(__name__)

DEFAULT_TIMEOUT_MS = 2000
"""Upstream's default custom transformer ``timeout``."""
DEFAULT_MEMORY_LIMIT_MB = 256
"""Upstream's isolate ``memoryLimit``."""
GRACE_S = 10.0
STOP_TIMEOUT_S = 2.0


class SandboxError(RuntimeError):
    """A custom transformer failed; ``kind`` is upstream's category (``TIMEOUT_ERROR``, ``RUNTIME_ERROR``...)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class SandboxClient:
    """One sandbox process, used as ``async with SandboxClient() as sandbox: await sandbox.run(...)``."""

    def __init__(self) -> None:
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        self._ids = itertools.count(1)

    async def __aenter__(self) -> SandboxClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def pid(self) -> int | None:
        """The running sandbox process's id (``None`` before the first run or after a crash)."""
        return self._proc.pid if self._proc is not None and self._proc.returncode is None else None

    async def _ensure(self) -> asyncio.subprocess.Process:
        if self._proc is None or self._proc.returncode is not None:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "engine.sandbox.runner",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            log.info("sandbox_started", pid=self._proc.pid)
        return self._proc

    async def run(
        self,
        code: str,
        content: str,
        *,
        source: dict[str, Any] | None = None,
        filename: str = "content.json",
        options: dict[str, Any] | None = None,
        timeout_ms: int = DEFAULT_TIMEOUT_MS,
        memory_limit_mb: int = DEFAULT_MEMORY_LIMIT_MB,
    ) -> RunResult:
        """Run ``code``'s transform on ``content``; raises :class:`SandboxError` when it fails."""
        request = RunRequest(
            id=next(self._ids),
            code=code,
            content=content,
            source=source or {"source": "test"},
            filename=filename,
            options=options or {},
            timeout_ms=timeout_ms,
            memory_limit_mb=memory_limit_mb,
        )
        async with self._lock:
            proc = await self._ensure()
            try:
                result = await asyncio.wait_for(self._exchange(proc, request), timeout_ms / 1000 + GRACE_S)
            except (TimeoutError, ConnectionError, asyncio.IncompleteReadError) as err:
                log.warning("sandbox_lost", pid=proc.pid, error=type(err).__name__)
                await self._kill(proc)
                raise SandboxError("SANDBOX_ERROR", "the transformer sandbox stopped answering; restarted") from err
        if result.error_kind is not None:
            raise SandboxError(result.error_kind, result.error or result.error_kind)
        return result

    async def _exchange(self, proc: asyncio.subprocess.Process, request: RunRequest) -> RunResult:
        assert proc.stdin is not None and proc.stdout is not None
        out = bytearray()
        frame_into(request, out)
        proc.stdin.write(out)
        await proc.stdin.drain()
        (size,) = HEADER.unpack(await proc.stdout.readexactly(HEADER.size))
        if size > MAX_FRAME:
            raise ConnectionError("oversized answer")
        return RESULT.decode(await proc.stdout.readexactly(size))

    async def _kill(self, proc: asyncio.subprocess.Process) -> None:
        if proc.returncode is None:
            kill_tree(proc.pid)
            await proc.wait()
        self._proc = None

    async def close(self) -> None:
        """Stop the process: close its stdin (it exits), then escalate."""
        proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        assert proc.stdin is not None
        proc.stdin.close()
        await escalate_stop(proc, STOP_TIMEOUT_S)
