"""Sink plumbing: the base classes the dispatcher feeds, the console and the rotating ``journal.log``.

The dispatcher thread calls ``offer`` for every record at or above a sink's level, then ``batch_done``
once per drained batch. Local sinks (console, file) write right there, in the dispatcher thread.
Remote or slow sinks (SQLite, Loki, syslog, OIAnalytics) are ``ThreadedSink``s: ``offer`` only appends
to a bounded buffer (the oldest record is dropped and counted when it is full) and their own thread
writes batches, keeps a failed batch for the next attempt, and reports a state change once.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar

import msgspec

from engine.logs.records import INFO, WARN, LogRecord, console_line

Report = Callable[[int, str, dict[str, Any]], None]
"""How a sink logs about itself: ``report(level, event, fields)`` (never blocks)."""


class RejectedBatch(Exception):
    """The target refused these records for good (a 4xx answer): drop them instead of retrying."""


class Sink:
    """One destination of log records with its own level (subclasses implement ``offer``)."""

    name: ClassVar[str]

    def __init__(self, spec: Any, level: int, report: Report) -> None:
        self.spec = spec
        self.level = level
        self._report = report

    def offer(self, record: LogRecord) -> None:
        """Take one record (dispatcher thread); must not block on the network."""
        raise NotImplementedError

    def batch_done(self) -> None:
        """End of a dispatched batch (local sinks write here)."""

    def adopt(self, spec: Any) -> bool:
        """Take a changed spec in place when possible; ``False`` means "replace me"."""
        return bool(spec == self.spec)

    def start(self) -> None:
        """Start the sink's thread, if it has one (called once, after construction)."""

    @property
    def alive(self) -> bool:
        """Whether the sink's thread is still running (always ``False`` for sinks without one)."""
        return False

    def request_flush(self) -> threading.Event | None:
        """Ask for everything offered so far to be written; the event is set once it was tried."""
        return None

    def close(self) -> None:
        """Stop (a threaded sink makes one last attempt in its own thread)."""

    def join(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the sink's thread to finish."""


class ThreadedSink(Sink):
    """A sink whose writes happen in its own thread, in batches, every ``interval_s`` or sooner when full."""

    def __init__(
        self,
        spec: Any,
        level: int,
        report: Report,
        *,
        interval_s: float,
        max_buffer: int,
        batch_size: int,
    ) -> None:
        super().__init__(spec, level, report)
        self.interval_s = interval_s
        self.max_buffer = max_buffer
        self.batch_size = batch_size
        self._buffer: deque[LogRecord] = deque(maxlen=max_buffer)
        self._retry: list[LogRecord] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._waiters: list[threading.Event] = []
        self._offer_drops = 0  # Written by the dispatcher thread only.
        self._sink_drops = 0  # Written by the sink thread only.
        self._reported_drops = 0
        self.failing = False
        self._thread = threading.Thread(target=self._run, name=f"oibus-logs-{self.name}", daemon=True)

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Whether the writer thread is still running."""
        return self._thread.is_alive()

    @property
    def dropped(self) -> int:
        """Records dropped so far (buffer full, or refused by the target)."""
        return self._offer_drops + self._sink_drops

    def offer(self, record: LogRecord) -> None:
        """Append to the buffer (dropping the oldest when full); wake the thread when a batch is ready."""
        buffer = self._buffer
        if len(buffer) == self.max_buffer:
            self._offer_drops += 1
        buffer.append(record)
        if len(buffer) == self.batch_size and not self.failing:
            self._wake.set()

    def request_flush(self) -> threading.Event:
        """Ask the thread for an attempt now (even while failing)."""
        done = threading.Event()
        with self._lock:
            self._waiters.append(done)
        self._wake.set()
        return done

    def close(self) -> None:
        """Ask the thread for a last attempt and to stop."""
        self._stop.set()
        self._wake.set()

    def join(self, timeout: float) -> None:
        """Wait for the thread (a target that hangs may outlive ``timeout``: the thread is a daemon)."""
        if self._thread.is_alive():
            self._thread.join(timeout)

    def write(self, records: list[LogRecord]) -> None:
        """Deliver one batch (sink thread); raise to keep it for the next attempt, ``RejectedBatch`` to drop it."""
        raise NotImplementedError

    def shutdown(self) -> None:
        """Release connections (sink thread, after the last attempt)."""

    def _run(self) -> None:
        due = time.monotonic() + self.interval_s
        while True:
            self._wake.wait(max(0.0, due - time.monotonic()))
            self._wake.clear()
            stopping = self._stop.is_set()
            with self._lock:
                waiters, self._waiters = self._waiters, []
            pending = len(self._buffer) + len(self._retry)
            full = pending >= self.batch_size and not self.failing
            if stopping or waiters or full or time.monotonic() >= due:
                if pending:
                    self._cycle()
                due = time.monotonic() + self.interval_s
            for waiter in waiters:
                waiter.set()
            if stopping:
                break
        try:
            self.shutdown()
        except Exception as err:  # A broken connection at exit is not worth more than a line.
            self._report(WARN, "log sink shutdown failed", {"sink": self.name, "error": str(err)})

    def _cycle(self) -> None:
        batch = self._retry
        self._retry = []
        buffer = self._buffer
        while True:
            try:
                batch.append(buffer.popleft())
            except IndexError:
                break
        excess = len(batch) - self.max_buffer
        if excess > 0:
            del batch[:excess]
            self._sink_drops += excess
        sent = 0
        while sent < len(batch):
            chunk = batch[sent : sent + self.batch_size]
            try:
                self.write(chunk)
            except RejectedBatch as err:
                self._sink_drops += len(chunk)
                self._report(
                    WARN, "log sink rejected records", {"sink": self.name, "count": len(chunk), "error": str(err)}
                )
            except Exception as err:
                self._retry = batch[sent:]
                if not self.failing:
                    self.failing = True
                    self._report(
                        WARN, "log sink unavailable", {"sink": self.name, "error": str(err) or type(err).__name__}
                    )
                return
            sent += len(chunk)
        if self.failing:
            self.failing = False
            self._report(INFO, "log sink available again", {"sink": self.name})
        dropped = self.dropped
        if dropped > self._reported_drops:
            self._report(WARN, "log records dropped", {"sink": self.name, "count": dropped - self._reported_drops})
            self._reported_drops = dropped


# --------------------------------------------------------------------------------------------- console


class ConsoleSink(Sink):
    """Human lines on stderr (the launcher captures them)."""

    name = "console"

    def __init__(self, spec: Any, level: int, report: Report) -> None:
        super().__init__(spec, level, report)
        self._lines: list[str] = []

    def offer(self, record: LogRecord) -> None:
        """Format now, write at the end of the batch."""
        self._lines.append(console_line(record))

    def batch_done(self) -> None:
        """Write the batch in one call (stderr is looked up each time so redirection is honoured)."""
        if not self._lines:
            return
        text = "".join(self._lines)
        self._lines.clear()
        stream: IO[str] | None = sys.stderr
        if stream is None:
            return
        try:
            stream.write(text)
            stream.flush()
        except (OSError, ValueError):
            return  # A closed or broken stderr must not stop the other sinks.

    def close(self) -> None:
        """Write what is left."""
        self.batch_done()


# ------------------------------------------------------------------------------------------------ file


@dataclass(frozen=True, slots=True)
class FileSpec:
    """``logs/journal.log``, rotated at ``max_bytes``, ``keep`` files in all (the current one included)."""

    path: Path
    max_bytes: int
    keep: int


class FileSink(Sink):
    """JSON lines (the API's log DTO) in ``journal.log``, rolled to ``journal.1.log`` (newest) and so on."""

    name = "file"
    spec: FileSpec

    def __init__(self, spec: FileSpec, level: int, report: Report) -> None:
        super().__init__(spec, level, report)
        self._file: IO[bytes] | None = None
        self._size = 0
        self._failing = False
        self._encoder = msgspec.json.Encoder()
        self._prune()

    def adopt(self, spec: Any) -> bool:
        """Size and count change in place; another path means another sink."""
        if not isinstance(spec, FileSpec) or spec.path != self.spec.path:
            return False
        self.spec = spec
        self._prune()
        return True

    def rotated(self, index: int) -> Path:
        """Path of the ``index``-th rolled file (1 is the newest)."""
        path = self.spec.path
        return path.with_name(f"{path.stem}.{index}{path.suffix}")

    def offer(self, record: LogRecord) -> None:
        """Append one line, rolling the file first when the line would not fit."""
        line = self._encoder.encode(record.to_dto()) + b"\n"
        try:
            if self._file is None:
                self._open()
            if self._size and self._size + len(line) > self.spec.max_bytes:
                self._rotate()
            assert self._file is not None
            self._file.write(line)
            self._size += len(line)
        except OSError as err:
            self._fail(err)

    def batch_done(self) -> None:
        """Flush the batch to the OS; only a flush that succeeds says the sink is back."""
        if self._file is None:
            return
        try:
            self._file.flush()
        except OSError as err:
            self._fail(err)
            return
        # A write lands in the file object's buffer even on a full disk: recovery is declared here, or the
        # report of it (a line for this very sink) would flap with the failure at every batch.
        if self._failing:
            self._failing = False
            self._report(INFO, "log sink available again", {"sink": self.name})

    def close(self) -> None:
        """Flush and close the file."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None

    def _fail(self, err: OSError) -> None:
        self.close()
        if not self._failing:
            self._failing = True
            self._report(WARN, "log sink unavailable", {"sink": self.name, "error": str(err)})

    def _open(self) -> None:
        self.spec.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.spec.path, "ab")  # noqa: SIM115 - the sink owns the file until close().
        self._size = self._file.tell()

    def _rotate(self) -> None:
        self.close()
        path = self.spec.path
        for index in range(self.spec.keep - 1, 0, -1):
            source = path if index == 1 else self.rotated(index - 1)
            if source.exists():
                os.replace(source, self.rotated(index))
        # With keep == 1 nothing was moved: start the one file afresh.
        self._file = open(path, "wb")  # noqa: SIM115 - the sink owns the file until close().
        self._size = 0

    def _prune(self) -> None:
        """Delete rolled files beyond ``keep`` (after the count was lowered)."""
        path = self.spec.path
        for candidate in path.parent.glob(f"{path.stem}.*{path.suffix}"):
            index = candidate.name[len(path.stem) + 1 : len(candidate.name) - len(path.suffix)]
            if index.isdigit() and int(index) >= self.spec.keep:
                try:
                    candidate.unlink()
                except OSError:
                    continue
