"""The OIAnalytics log sink: the pipeline batches, the OIAnalytics agent supplies the sender.

Upstream sends logs to ``POST /api/oianalytics/oibus/logs`` every ``logger.oia.interval`` seconds (capped
at 60), earlier when 500 records are waiting, and only while registered. Here the agent owns the HTTP
client and the registration state: once registered it calls ``LogPipeline.set_oianalytics(sender)``
(and ``set_oianalytics(None)`` when unregistered). ``sender`` runs in the sink's own thread, blocks
until the batch is accepted, and raises to keep the batch for the next attempt; an agent living on the
event loop can bridge with ``asyncio.run_coroutine_threadsafe(agent.send_logs(records), loop).result(30)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from engine.logs.records import LogRecord
from engine.logs.sinks import Report, ThreadedSink

MAX_INTERVAL_S = 60.0
BATCH_SIZE = 500


class LogSender(Protocol):
    """Delivers a batch of records to OIAnalytics (``LogRecord.to_dto()`` gives each record's JSON)."""

    def __call__(self, records: Sequence[LogRecord], /) -> None:
        """Send (blocking, from the sink's thread); raise to retry the batch later."""
        ...


@dataclass(frozen=True, slots=True)
class OIAnalyticsSpec:
    """The agent's sender and the batching interval."""

    sender: LogSender
    interval_s: float


class OIAnalyticsSink(ThreadedSink):
    """Batches records for the OIAnalytics agent's sender."""

    name = "oianalytics"
    spec: OIAnalyticsSpec

    def __init__(self, spec: OIAnalyticsSpec, level: int, report: Report) -> None:
        super().__init__(
            spec,
            level,
            report,
            interval_s=min(spec.interval_s, MAX_INTERVAL_S),
            max_buffer=50_000,
            batch_size=BATCH_SIZE,
        )

    def write(self, records: list[LogRecord]) -> None:
        """Hand the batch to the agent."""
        self.spec.sender(records)
