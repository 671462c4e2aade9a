"""Persisted connector and engine metrics (``logs/metrics.db``), fed by worker reports and a process sampler."""

from engine.metrics.model import ENGINE_ID, Kind
from engine.metrics.process import ProcessSample, ProcessSampler
from engine.metrics.store import METRICS_DB, MetricsStore, metrics_db_path

__all__ = ["ENGINE_ID", "METRICS_DB", "Kind", "MetricsStore", "ProcessSample", "ProcessSampler", "metrics_db_path"]
