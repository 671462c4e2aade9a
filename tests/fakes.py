"""Recording fakes for connector tests: a ``ValueSink`` and a structlog-style logger (STYLE R9).

Import as ``from fakes import RecordingSink, RecordingLogger`` (``tests`` is on pytest's ``pythonpath``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.base import ConnectorContext, TimeValue
from connectors.errors import ContentRefused

__all__ = ["RecordedFile", "RecordingLogger", "RecordingSink"]


@dataclass(frozen=True, slots=True)
class RecordedFile:
    """A file handed to the sink: its bytes at hand-over time (the source may be deleted afterwards)."""

    path: Path
    filename: str
    owned: bool
    data: bytes


@dataclass(slots=True)
class RecordingSink:
    """A ``ValueSink`` that keeps everything it is given.

    - ``refuse = True`` makes every call raise ``ContentRefused`` (a North cache is full) and record nothing.
    - ``gate``: when set to an ``asyncio.Event``, each call waits for it before completing, which holds
      hand-overs "in flight" so that a test can observe pipelining (``in_flight``, ``max_in_flight``).
    - ``await wait_for(n)`` returns once ``count >= n`` (time-values + files + contents recorded).
    """

    values: list[TimeValue] = field(default_factory=list)
    value_items: list[list[str] | None] = field(default_factory=list)
    files: list[RecordedFile] = field(default_factory=list)
    contents: list[str] = field(default_factory=list)
    refuse: bool = False
    gate: asyncio.Event | None = None
    in_flight: int = 0
    max_in_flight: int = 0
    refused: int = 0
    batches: list[int] = field(default_factory=list)
    """Sizes of the ``add_files`` calls recorded."""
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def count(self) -> int:
        """Count everything recorded so far: time-values, files and contents."""
        return len(self.values) + len(self.files) + len(self.contents)

    @property
    def filenames(self) -> list[str]:
        """List the logical names of the recorded files, in hand-over order."""
        return [recorded.filename for recorded in self.files]

    def file(self, filename: str) -> RecordedFile:
        """Return the recorded file with this logical name (``KeyError`` if none)."""
        for recorded in self.files:
            if recorded.filename == filename:
                return recorded
        raise KeyError(filename)

    async def add_values(self, values: list[TimeValue], *, items: list[str] | None = None) -> None:
        """Record a batch of time-values."""
        await self._enter()
        try:
            self.values.extend(values)
            self.value_items.append(items)
        finally:
            self._leave()

    async def add_file(
        self, path: Path, *, filename: str | None = None, owned: bool = False, items: list[str] | None = None
    ) -> None:
        """Record a file, copying its bytes now: the caller may delete the source once this returns."""
        await self._enter()
        try:
            # Read after the gate: a connector that deleted its source before this returned would fail here.
            data = await asyncio.to_thread(path.read_bytes)
            self.files.append(RecordedFile(path, filename or path.name, owned, data))
        finally:
            self._leave()

    async def add_files(self, files: list[tuple[Path, str]], *, owned: bool = False) -> None:
        """Record several files as one call (one ``in_flight`` unit), copying their bytes now."""
        await self._enter()
        try:
            # Like a North, fail the whole call when one file cannot be read; record only complete calls.
            data = await asyncio.to_thread(lambda: [path.read_bytes() for path, _ in files])
            for (path, filename), content in zip(files, data, strict=True):
                self.files.append(RecordedFile(path, filename, owned, content))
            self.batches.append(len(files))
        finally:
            self._leave()

    async def add_content(self, content: str) -> None:
        """Record an ``any-content`` payload."""
        await self._enter()
        try:
            self.contents.append(content)
        finally:
            self._leave()

    async def wait_for(self, n: int, within_s: float = 5.0) -> None:
        """Wait until ``count >= n``; ``TimeoutError`` after ``within_s`` seconds."""
        async with asyncio.timeout(within_s):
            while self.count < n:
                self._changed.clear()
                await self._changed.wait()

    async def wait_in_flight(self, n: int, within_s: float = 5.0) -> None:
        """Wait until ``n`` calls are held by the gate at once."""
        async with asyncio.timeout(within_s):
            while self.in_flight < n:
                self._changed.clear()
                await self._changed.wait()

    async def _enter(self) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self._changed.set()
        try:
            if self.gate is not None:
                await self.gate.wait()
            if self.refuse:
                self.refused += 1
                raise ContentRefused("a target North could not store the content (test)")
        except BaseException:
            self._leave()
            raise

    def _leave(self) -> None:
        self.in_flight -= 1
        self._changed.set()


@dataclass(slots=True)
class RecordingLogger:
    """A ``connectors.base.Logger`` that records ``(level, event, fields)``."""

    records: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def debug(self, event: str, /, **fields: Any) -> None:
        """Record a debug event."""
        self.records.append(("debug", event, fields))

    def info(self, event: str, /, **fields: Any) -> None:
        """Record an info event."""
        self.records.append(("info", event, fields))

    def warning(self, event: str, /, **fields: Any) -> None:
        """Record a warning event."""
        self.records.append(("warning", event, fields))

    def error(self, event: str, /, **fields: Any) -> None:
        """Record an error event."""
        self.records.append(("error", event, fields))

    def events(self, level: str | None = None) -> list[str]:
        """List the event names recorded (at ``level`` only, when given)."""
        return [event for lvl, event, _ in self.records if level is None or lvl == level]

    def find(self, event: str) -> list[dict[str, Any]]:
        """List the fields of every record of ``event``."""
        return [fields for _, name, fields in self.records if name == event]


def reporting_context(
    id: str, name: str, logger: RecordingLogger, *, data_folder: Path, base_folder: Path, lost: list[str]
) -> ConnectorContext:
    """The context of a connector under test whose ``connection_lost`` reasons land in ``lost``."""
    return ConnectorContext(
        id=id, name=name, logger=logger, base_folder=base_folder, data_folder=data_folder, connection_lost=lost.append
    )
