"""The engine's log pipeline: one queue, one dispatcher thread, sinks with their own levels, changed live.

A log call that passes the pipeline's threshold (the most verbose sink level) appends
``(time_ns, level, event, fields)`` to a queue and returns: no formatting, no I/O in the caller. A
dispatcher thread wakes every 0.1 s (at once for errors), builds the records and offers each to the
sinks whose level it reaches. Console and file are written by the dispatcher; SQLite, Loki, syslog and
OIAnalytics have their own threads, so a target that hangs only fills (and trims) its own buffer.

Settings changes travel through the same queue as records: everything logged before ``apply`` goes to
the old sinks, everything after to the new ones. ``apply`` itself never blocks.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from engine.config.models import LoggerSettings
from engine.logs.database import LOGS_DB, DatabaseSpec, SqliteSink
from engine.logs.logger import ROUTE, Logger, install, uninstall
from engine.logs.loki import LokiSink, LokiSpec
from engine.logs.oianalytics import LogSender, OIAnalyticsSink, OIAnalyticsSpec
from engine.logs.records import ERROR, PLAIN_TYPES, SILENT, WARN, build_record, level_name, level_number, snapshot
from engine.logs.sinks import ConsoleSink, FileSink, FileSpec, Sink
from engine.logs.syslog import SyslogSink, SyslogSpec

JOURNAL = "journal.log"
MB = 1024 * 1024
POLL_S = 0.1
MAX_PENDING = 100_000


@dataclass(frozen=True, slots=True)
class _Reconfigure:
    settings: LoggerSettings
    engine_name: str
    console_level: str | None
    oia: LogSender | None


@dataclass(slots=True)
class _Flush:
    dispatched: threading.Event = field(default_factory=threading.Event)
    pending: list[threading.Event] = field(default_factory=list)


class _Close:
    pass


def _enabled(level: str) -> int:
    return level_number(level, SILENT)


class LogPipeline:
    """Engine-wide logging: configured from ``LoggerSettings``, changed live with ``apply``.

    ``data_dir`` is the OIBus data folder (files go to ``logs/``); ``console_level`` overrides the
    console sink's level (the ``OIBUS_LOG_LEVEL`` environment variable); ``max_pending`` bounds the
    queue between callers and the dispatcher (records beyond it are dropped and counted).
    """

    def __init__(
        self,
        data_dir: Path,
        engine_name: str = "OIBus",
        *,
        console_level: str | None = None,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.logs_dir = data_dir / "logs"
        self.engine_name = engine_name
        self.console_level = console_level or None
        self.threshold = SILENT
        self._max_pending = max_pending
        self._inbox: deque[Any] = deque()
        self._wake = threading.Event()
        self._dropped = 0
        self._reported_drops = 0
        self._oia: LogSender | None = None
        self._settings: LoggerSettings | None = None
        self._thread = threading.Thread(target=self._run, name="oibus-logs", daemon=True)
        self._closed = False
        # Owned by the dispatcher thread.
        self._sinks: dict[str, Sink] = {}
        self._active: tuple[Sink, ...] = ()
        self._retired: list[Sink] = []

    def __enter__(self) -> LogPipeline:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # ------------------------------------------------------------------------------ caller side

    def emit(self, level: int, name: str, event: str, fields: dict[str, Any], time_ns: int | None = None) -> None:
        """Queue one record (any thread; never blocks). ``fields`` is handed over.

        ``time_ns`` (epoch nanoseconds) dates a record logged elsewhere first (relayed from another OIBus).
        """
        inbox = self._inbox
        if len(inbox) >= self._max_pending:
            self._dropped += 1
            return
        for key, value in fields.items():
            if type(value) not in PLAIN_TYPES:
                fields[key] = snapshot(value)
        inbox.append((time_ns or time.time_ns(), level, event, fields))
        if level >= ERROR:
            self._wake.set()

    def get_logger(self, name: str | None = None, /, **context: Any) -> Logger:
        """A logger writing to this pipeline (whether or not it is the installed one)."""
        return Logger(self, name or "", context)

    @property
    def effective_level(self) -> str:
        """The most verbose level any sink takes (``silent`` if none): the level workers should log at."""
        return "silent" if self.threshold >= SILENT else level_name(self.threshold)

    @property
    def dropped(self) -> int:
        """Records dropped because the queue to the dispatcher was full."""
        return self._dropped

    def start(self, settings: LoggerSettings) -> None:
        """Start the dispatcher and open the sinks of ``settings`` (in the dispatcher thread).

        Records logged before ``start`` (through ``emit``) go to these sinks too.
        """
        self._settings = settings
        self._inbox.appendleft(_Reconfigure(settings, self.engine_name, self.console_level, self._oia))
        self._set_threshold(self._threshold_of(settings))
        self._thread.start()

    def install(self) -> None:
        """Make this the process's pipeline: ``engine.logs.get_logger`` and ``structlog.get_logger`` log here."""
        install(self)

    def apply(self, settings: LoggerSettings, *, engine_name: str | None = None) -> None:
        """Change levels and targets live (never blocks: sinks are reopened by the dispatcher)."""
        if self._closed:
            return
        if engine_name:
            self.engine_name = engine_name
        self._settings = settings
        self._command(_Reconfigure(settings, self.engine_name, self.console_level, self._oia))
        self._set_threshold(self._threshold_of(settings))

    def set_oianalytics(self, sender: LogSender | None) -> None:
        """Plug (or unplug, with ``None``) the OIAnalytics agent's log sender; see ``engine.logs.oianalytics``."""
        self._oia = sender
        if self._settings is not None:
            self.apply(self._settings)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything logged so far was written (or tried) by every sink; ``False`` on timeout.

        Blocking: from the event loop, ``await asyncio.to_thread(pipeline.flush)``.
        """
        if not self._thread.is_alive():
            return True
        deadline = time.monotonic() + timeout
        command = _Flush()
        self._command(command)
        if not command.dispatched.wait(timeout):
            return False
        return all(done.wait(max(0.0, deadline - time.monotonic())) for done in command.pending)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, close every sink and stop (a hanging target is abandoned after ``timeout``)."""
        if self._closed:
            return
        self._closed = True
        uninstall(self)
        if not self._thread.is_alive():
            self.threshold = SILENT
            return
        deadline = time.monotonic() + timeout
        self._command(_Close())
        self.threshold = SILENT
        self._thread.join(timeout)
        for sink in list(self._retired):
            sink.join(max(0.0, deadline - time.monotonic()))

    def _command(self, command: Any) -> None:
        # Commands bypass the bound: losing a settings change or a flush is not an option.
        self._inbox.append(command)
        self._wake.set()

    def _set_threshold(self, threshold: int) -> None:
        self.threshold = threshold
        if ROUTE.pipeline is self:
            ROUTE.threshold = threshold

    def _threshold_of(self, settings: LoggerSettings) -> int:
        levels = [_enabled(self.console_level or settings.console.level), _enabled(settings.file.level)]
        if settings.database.max_number_of_logs > 0:
            levels.append(_enabled(settings.database.level))
        if settings.loki.address:
            levels.append(_enabled(settings.loki.level))
        if settings.syslog.host:
            levels.append(_enabled(settings.syslog.level))
        if self._oia is not None:
            levels.append(_enabled(settings.oia.level))
        return min(levels)

    def _report(self, level: int, event: str, fields: dict[str, Any]) -> None:
        self.emit(level, "engine.logs", event, dict(fields))

    # --------------------------------------------------------------------------- dispatcher side

    def _run(self) -> None:
        while True:
            self._wake.wait(POLL_S)
            self._wake.clear()
            try:
                if self._drain():
                    return
            except Exception:  # The dispatcher must survive anything a sink or a record throws at it.
                traceback.print_exc(file=sys.__stderr__)

    def _drain(self) -> bool:
        inbox = self._inbox
        active = self._active
        while True:
            try:
                item = inbox.popleft()
            except IndexError:
                break
            if type(item) is tuple:
                try:
                    record = build_record(*item)
                    for sink in active:
                        if record.level >= sink.level:
                            sink.offer(record)
                except Exception:
                    traceback.print_exc(file=sys.__stderr__)
                continue
            # Records queued before the command are written under the configuration they were logged with.
            for sink in active:
                sink.batch_done()
            if isinstance(item, _Close):
                self._report_drops(active)
                self._shutdown()
                return True
            if isinstance(item, _Reconfigure):
                self._reconfigure(item)
                active = self._active
            self._report_drops(active)
            if isinstance(item, _Flush):
                for sink in active:
                    sink.batch_done()
                item.pending.extend(done for sink in active if (done := sink.request_flush()) is not None)
                item.dispatched.set()
        self._report_drops(active)
        for sink in active:
            sink.batch_done()
        return False

    def _report_drops(self, active: tuple[Sink, ...]) -> None:
        """Tell every sink how many records the full queue dropped (straight away: the queue may be full)."""
        dropped = self._dropped
        if dropped <= self._reported_drops:
            return
        fields = {"sink": "queue", "count": dropped - self._reported_drops}
        self._reported_drops = dropped
        record = build_record(time.time_ns(), WARN, "log records dropped", fields)
        for sink in active:
            if record.level >= sink.level:
                sink.offer(record)

    def _wanted(self, command: _Reconfigure) -> dict[str, tuple[type[Sink], Any, int]]:
        settings = command.settings
        wanted: dict[str, tuple[type[Sink], Any, int]] = {}
        level = _enabled(command.console_level or settings.console.level)
        if level < SILENT:
            wanted["console"] = (ConsoleSink, "stderr", level)
        level = _enabled(settings.file.level)
        if level < SILENT:
            journal = FileSpec(self.logs_dir / JOURNAL, settings.file.max_file_size * MB, settings.file.number_of_files)
            wanted["file"] = (FileSink, journal, level)
        level = _enabled(settings.database.level)
        if level < SILENT and settings.database.max_number_of_logs > 0:
            wanted["database"] = (
                SqliteSink,
                DatabaseSpec(self.logs_dir / LOGS_DB, settings.database.max_number_of_logs),
                level,
            )
        loki = settings.loki
        level = _enabled(loki.level)
        if level < SILENT and loki.address:
            spec = LokiSpec(loki.address, loki.username, loki.password, loki.interval, command.engine_name)
            wanted["loki"] = (LokiSink, spec, level)
        syslog = settings.syslog
        level = _enabled(syslog.level)
        if level < SILENT and syslog.host:
            wanted["syslog"] = (
                SyslogSink,
                SyslogSpec(syslog.host, syslog.port, syslog.protocol, command.engine_name),
                level,
            )
        level = _enabled(settings.oia.level)
        if level < SILENT and command.oia is not None:
            wanted["oianalytics"] = (OIAnalyticsSink, OIAnalyticsSpec(command.oia, settings.oia.interval), level)
        return wanted

    def _reconfigure(self, command: _Reconfigure) -> None:
        wanted = self._wanted(command)
        for name in [*self._sinks, *(name for name in wanted if name not in self._sinks)]:
            current = self._sinks.get(name)
            want = wanted.get(name)
            if current is not None and want is not None and type(current) is want[0] and current.adopt(want[1]):
                current.level = want[2]
                continue
            if current is not None:
                self._retire(self._sinks.pop(name))
            if want is not None:
                cls, spec, level = want
                try:
                    sink = cls(spec, level, self._report)
                    sink.start()
                except Exception as err:
                    self._report(ERROR, "log sink cannot start", {"sink": name, "error": str(err)})
                    continue
                self._sinks[name] = sink
        self._active = tuple(self._sinks.values())

    def _retire(self, sink: Sink) -> None:
        sink.close()
        self._retired = [old for old in self._retired if old.alive]
        self._retired.append(sink)

    def _shutdown(self) -> None:
        for sink in self._sinks.values():
            self._retire(sink)
        self._sinks.clear()
        self._active = ()


def configure(
    settings: LoggerSettings, data_dir: Path, engine_name: str, *, console_level: str | None = None
) -> LogPipeline:
    """Start the engine's pipeline and install it (``structlog.get_logger`` loggers log through it)."""
    pipeline = LogPipeline(data_dir, engine_name, console_level=console_level)
    pipeline.start(settings)
    pipeline.install()
    return pipeline
