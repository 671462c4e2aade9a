"""The worker's end of the pipes, and a logger that ships records to the engine as ``Log`` frames."""

from __future__ import annotations

import asyncio
import os
import sys
import traceback
from typing import Any

from engine.ipc import Log, Message, encode

LEVELS = {"trace": 5, "debug": 10, "info": 20, "warning": 30, "warn": 30, "error": 40, "silent": 100}


class Channel:
    """Frames to the engine over the saved stdout descriptor."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self._writer = writer
        self.closed = False

    def send(self, message: Message) -> None:
        """Queue one frame (dropped silently once the engine is gone: we are exiting anyway)."""
        if self.closed or self._writer.is_closing():
            return
        self._writer.write(encode(message))

    async def drain(self) -> None:
        """Wait for the pipe to have room."""
        if not self.closed:
            try:
                await self._writer.drain()
            except ConnectionError:
                self.closed = True

    @classmethod
    async def open(cls, ipc_fd: int) -> Channel:
        """Connect stdin (frames from the engine) and ``ipc_fd`` (frames to the engine) to asyncio."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=2**26)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(ipc_fd, "wb", buffering=0)
        )
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        return cls(reader, writer)


class WorkerLogger:
    """Implements the connector ``Logger`` protocol by sending ``Log`` frames with bound fields."""

    def __init__(self, channel: Channel, level: str = "info", **bound: Any) -> None:
        self._channel = channel
        self._bound = bound
        self.level = LEVELS.get(level, 20)

    def bind(self, **fields: Any) -> WorkerLogger:
        """A logger with more bound fields (shares the level and the channel)."""
        child = WorkerLogger(self._channel, **{**self._bound, **fields})
        child.level = self.level
        return child

    def _emit(self, level: str, event: str, fields: dict[str, Any]) -> None:
        if LEVELS[level] < self.level:
            return
        safe = {
            key: value if isinstance(value, str | int | float | bool | None) else repr(value)
            for key, value in {**self._bound, **fields}.items()
        }
        self._channel.send(Log(level=level, event=event, fields=safe))

    def debug(self, event: str, /, **fields: Any) -> None:
        """Log at debug level."""
        self._emit("debug", event, fields)

    def info(self, event: str, /, **fields: Any) -> None:
        """Log at info level."""
        self._emit("info", event, fields)

    def warning(self, event: str, /, **fields: Any) -> None:
        """Log at warning level."""
        self._emit("warning", event, fields)

    def error(self, event: str, /, **fields: Any) -> None:
        """Log at error level."""
        self._emit("error", event, fields)

    def exception(self, event: str, /, **fields: Any) -> None:
        """Log at error level with the current traceback."""
        self._emit("error", event, {**fields, "exception": traceback.format_exc(limit=8)})
