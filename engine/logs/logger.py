"""The logging front end: bound loggers whose filtered-out levels cost one integer comparison.

Two ways in, one pipeline behind:

- ``engine.logs.get_logger(__name__)`` returns a ``Logger`` at once (no lazy proxy). A filtered-out call
  is an attribute read and a comparison; an emitted one copies its fields onto the pipeline's queue.
- ``structlog.get_logger(__name__)`` keeps working once a pipeline is installed: structlog is configured
  with a wrapper class gated by the same threshold and a final processor that hands the event over.
  structlog's lazy proxy costs about a microsecond per call even for filtered-out levels, so hot paths
  should use ``get_logger`` from here.

Before any pipeline is installed (unit tests, tools), loggers pass their records to structlog's current
configuration, so ``structlog.testing.capture_logs`` still sees them.
"""

from __future__ import annotations

import contextlib
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import structlog
from structlog._base import BoundLoggerBase

from engine.logs.records import (
    DEBUG,
    ERROR,
    FATAL,
    INFO,
    PLAIN_TYPES,
    TRACE,
    WARN,
    build_record,
    console_line,
    level_number,
    snapshot,
)

__all__ = ["ROUTE", "Logger", "Route", "get_logger", "install", "uninstall"]


class Route(Protocol):
    """Where a logger sends what passes its threshold (a pipeline, or the process-wide switch)."""

    threshold: int

    def emit(self, level: int, name: str, event: str, fields: dict[str, Any]) -> None:
        """Take one record; must not block (``fields`` is handed over and may be mutated)."""
        ...


_STRUCTLOG_METHODS = {TRACE: "debug", DEBUG: "debug", INFO: "info", WARN: "warning", ERROR: "error", FATAL: "critical"}


class _Switch:
    """The process-wide route: the installed pipeline, else structlog's own configuration."""

    __slots__ = ("pipeline", "threshold")

    def __init__(self) -> None:
        self.threshold = 0
        self.pipeline: Route | None = None

    def emit(self, level: int, name: str, event: str, fields: dict[str, Any]) -> None:
        pipeline = self.pipeline
        if pipeline is not None:
            pipeline.emit(level, name, event, fields)
            return
        method = _STRUCTLOG_METHODS.get(level, "info")
        getattr(structlog.get_logger(name) if name else structlog.get_logger(), method)(event, **fields)


ROUTE = _Switch()
"""The route of every logger from ``get_logger`` and of structlog once a pipeline is installed."""


def _interpolate(event: Any, args: tuple[Any, ...]) -> str:
    """Interpolate like structlog (``log.info("%s done", name)``), never raising."""
    try:
        if len(args) == 1 and isinstance(args[0], Mapping) and args[0]:
            return str(event) % args[0]
        return str(event) % args
    except (TypeError, ValueError, KeyError):
        return " ".join([str(event), *map(str, args)])


def format_exc_info(exc_info: Any) -> str | None:
    """Render ``exc_info`` (True, an exception, or a ``sys.exc_info()`` tuple) as traceback text."""
    if isinstance(exc_info, BaseException):
        return "".join(traceback.format_exception(exc_info)).rstrip()
    if not isinstance(exc_info, tuple):
        exc_info = sys.exc_info()
    if exc_info[0] is None:
        return None
    return "".join(traceback.format_exception(*exc_info)).rstrip()


class Logger:
    """A bound logger with structlog's calling convention: ``log.info("event", key=value)``.

    Bound fields (``bind``) come first, call fields override them. ``scopeType``, ``scopeId``,
    ``scopeName``, ``itemId``, ``itemName``, ``groupId`` and ``groupName`` become record columns; fields
    whose name says secret (password, token...) are written as ``***``.
    """

    __slots__ = ("_context", "_name", "_route")

    def __init__(self, route: Route, name: str = "", context: dict[str, Any] | None = None) -> None:
        self._route = route
        self._name = name
        self._context = context or {}

    def __repr__(self) -> str:
        return f"<Logger {self._name!r} {self._context!r}>"

    # --------------------------------------------------------------------------------- binding

    def bind(self, **fields: Any) -> Logger:
        """A logger with more bound fields."""
        return Logger(self._route, self._name, {**self._context, **fields})

    def new(self, **fields: Any) -> Logger:
        """A logger with only these bound fields."""
        return Logger(self._route, self._name, dict(fields))

    def unbind(self, *keys: str) -> Logger:
        """A logger without these bound fields (``KeyError`` for one not bound)."""
        context = dict(self._context)
        for key in keys:
            del context[key]
        return Logger(self._route, self._name, context)

    def try_unbind(self, *keys: str) -> Logger:
        """A logger without these bound fields, ignoring those not bound."""
        return Logger(self._route, self._name, {k: v for k, v in self._context.items() if k not in keys})

    # --------------------------------------------------------------------------------- levels

    def trace(self, event: str, /, *args: Any, **fields: Any) -> None:
        """Log at trace level."""
        if self._route.threshold > TRACE:
            return
        self._emit(TRACE, event, args, fields)

    def debug(self, event: str, /, *args: Any, **fields: Any) -> None:
        """Log at debug level."""
        if self._route.threshold > DEBUG:
            return
        self._emit(DEBUG, event, args, fields)

    def info(self, event: str, /, *args: Any, **fields: Any) -> None:
        """Log at info level."""
        if self._route.threshold > INFO:
            return
        self._emit(INFO, event, args, fields)

    def warning(self, event: str, /, *args: Any, **fields: Any) -> None:
        """Log at warn level."""
        if self._route.threshold > WARN:
            return
        self._emit(WARN, event, args, fields)

    warn = warning

    def error(self, event: str, /, *args: Any, **fields: Any) -> None:
        """Log at error level."""
        if self._route.threshold > ERROR:
            return
        self._emit(ERROR, event, args, fields)

    def exception(self, event: str, /, *args: Any, **fields: Any) -> None:
        """Log at error level with the traceback of the exception being handled."""
        if self._route.threshold > ERROR:
            return
        fields.setdefault("exc_info", True)
        self._emit(ERROR, event, args, fields)

    def critical(self, event: str, /, *args: Any, **fields: Any) -> None:
        """Log at fatal level."""
        if self._route.threshold > FATAL:
            return
        self._emit(FATAL, event, args, fields)

    fatal = critical
    msg = info

    def log(self, level: int | str, event: str, /, *args: Any, **fields: Any) -> None:
        """Log at ``level``: a number, or a name in upstream's or structlog's spelling (``warn``, ``warning``)."""
        number = level_number(level)
        if self._route.threshold > number:
            return
        self._emit(number, event, args, fields)

    def is_enabled_for(self, level: int | str) -> bool:
        """Whether a record at ``level`` would reach at least one sink."""
        return level_number(level) >= self._route.threshold

    def _emit(self, level: int, event: Any, args: tuple[Any, ...], fields: dict[str, Any]) -> None:
        if args:
            event = _interpolate(event, args)
        if self._context:
            fields = {**self._context, **fields}
        exc_info = fields.pop("exc_info", None)
        if exc_info:
            trace = format_exc_info(exc_info)
            if trace is not None:
                fields["exception"] = trace
        self._route.emit(level, self._name, event if type(event) is str else str(event), fields)


def get_logger(name: str | None = None, /, **context: Any) -> Logger:
    """A logger on the process-wide route (the installed pipeline), with ``context`` bound."""
    return Logger(ROUTE, name or "", context)


# ------------------------------------------------------------------------------ structlog integration


def _gated(level: int, method: str) -> Callable[..., Any]:
    def log_method(self: BoundLoggerBase, event: Any = None, *args: Any, **fields: Any) -> Any:
        if ROUTE.threshold > level:
            return None
        if args:
            event = _interpolate(event, args)
        return self._proxy_to_logger(method, event, **fields)

    log_method.__name__ = method
    return log_method


def _gated_async(sync: Callable[..., Any]) -> Callable[..., Any]:
    async def log_method(self: BoundLoggerBase, event: Any = None, *args: Any, **fields: Any) -> Any:
        # The pipeline never blocks, so there is no need for structlog's executor hop.
        return sync(self, event, *args, **fields)

    log_method.__name__ = f"a{sync.__name__}"
    return log_method


def _exception(self: Any, event: Any = None, *args: Any, **fields: Any) -> Any:
    fields.setdefault("exc_info", True)
    return self.error(event, *args, **fields)


def _log(self: Any, level: int | str, event: Any = None, *args: Any, **fields: Any) -> Any:
    number = level_number(level)
    if ROUTE.threshold > number:
        return None
    if args:
        event = _interpolate(event, args)
    return self._proxy_to_logger(_STRUCTLOG_NAMES.get(number, "info"), event, **fields)


_STRUCTLOG_NAMES = {TRACE: "trace", DEBUG: "debug", INFO: "info", WARN: "warning", ERROR: "error", FATAL: "critical"}
_METHOD_LEVELS = {name: number for number, name in _STRUCTLOG_NAMES.items()}


def _structlog_class() -> type[BoundLoggerBase]:
    methods: dict[str, Any] = {}
    for number, name in _STRUCTLOG_NAMES.items():
        methods[name] = _gated(number, name)
    methods["warn"] = methods["warning"]
    methods["err"] = methods["error"]
    methods["fatal"] = methods["critical"]
    methods["msg"] = methods["info"]
    methods["exception"] = _exception
    methods["log"] = _log
    for name in [*methods]:
        methods[f"a{name}"] = _gated_async(methods[name])
    methods["is_enabled_for"] = lambda self, level: level_number(level) >= ROUTE.threshold
    methods["get_effective_level"] = lambda self: ROUTE.threshold
    return type("OIBusBoundLogger", (BoundLoggerBase,), methods)


OIBusBoundLogger = _structlog_class()
"""structlog wrapper class gated by the installed pipeline's threshold (changes apply live)."""


def _hand_over(logger: Any, method_name: str, event_dict: Any) -> str:
    """Final structlog processor: give the event to the installed pipeline."""
    event = event_dict.pop("event", "")
    exc_info = event_dict.pop("exc_info", None)
    if exc_info:
        trace = format_exc_info(exc_info)
        if trace is not None:
            event_dict["exception"] = trace
    level = _METHOD_LEVELS.get(method_name, INFO)
    event = event if type(event) is str else str(event)
    pipeline = ROUTE.pipeline
    if pipeline is not None:
        pipeline.emit(level, "", event, event_dict)
    else:
        # A logger cached while a pipeline was installed, used after it closed (late shutdown lines):
        # write to stderr directly rather than lose the line.
        for key, value in event_dict.items():
            if type(value) not in PLAIN_TYPES:
                event_dict[key] = snapshot(value)
        with contextlib.suppress(OSError, ValueError, AttributeError):
            sys.stderr.write(console_line(build_record(time.time_ns(), level, event, event_dict)))
    return ""


class _Discard:
    """What structlog "writes" to once the pipeline has taken the event."""

    def msg(self, *args: Any, **fields: Any) -> None:
        return None

    trace = debug = info = warning = warn = error = err = critical = fatal = exception = log = msg


_DISCARD = _Discard()


def _discard_factory(*args: Any) -> _Discard:
    return _DISCARD


def install(pipeline: Route) -> None:
    """Route ``get_logger`` loggers and ``structlog.get_logger`` through ``pipeline``."""
    ROUTE.pipeline = pipeline
    ROUTE.threshold = pipeline.threshold
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, _hand_over],
        wrapper_class=OIBusBoundLogger,
        logger_factory=_discard_factory,
        # Safe to cache: the wrapper, processors and factory stay the same objects for the process's life;
        # level and sink changes happen behind them.
        cache_logger_on_first_use=True,
    )


def uninstall(pipeline: Route) -> None:
    """Undo ``install`` (if ``pipeline`` is the installed one): loggers go back to structlog's defaults."""
    if ROUTE.pipeline is pipeline:
        ROUTE.pipeline = None
        ROUTE.threshold = 0
        structlog.reset_defaults()
