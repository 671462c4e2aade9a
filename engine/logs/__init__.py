"""The engine's log pipeline and its sinks (console, file, SQLite, Loki, syslog, OIAnalytics hook).

``configure(settings, data_dir, engine_name)`` starts and installs the pipeline; ``apply(settings)`` on
the returned ``LogPipeline`` changes levels and targets live; ``get_logger(__name__)`` is the cheap way
to log (``structlog.get_logger`` works too, at the cost of structlog's lazy proxy).
"""

from engine.logs.database import LogQuery, LogStore
from engine.logs.logger import Logger, get_logger
from engine.logs.pipeline import LogPipeline, configure
from engine.logs.records import LogRecord

__all__ = ["LogPipeline", "LogQuery", "LogRecord", "LogStore", "Logger", "configure", "get_logger"]
