"""Loki sink: batched pushes of ``{"streams": [{"stream": labels, "values": [["<ns>", "<line>"]]}]}``.

As upstream 3.9 (pino-loki): ``address`` is Loki's base URL and the push goes to ``loki/api/v1/push``
resolved against it (a full ``.../loki/api/v1/push`` address is used as it is, and so is another OIBus's
log relay, ``http://<oibus>:2223/logs`` or ``.../api/logs``: ``engine.api.log_relay``); Basic auth when a
username is set; a buffer of 50,000 records at most, the oldest dropped (and counted) while Loki is down.
Labels: ``name`` (the engine name, as upstream) and ``level`` with pino-loki's values (``debug`` for
trace and debug, ``info``, ``warning``, ``error``, ``critical``), plus ``scopeType``, ``scopeId`` and
``scopeName`` (upstream 3.0-3.4's labels) so one connector's logs are one stream.
"""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import msgspec

from engine.logs.records import DEBUG, ERROR, FATAL, INFO, TRACE, WARN, LogRecord
from engine.logs.sinks import RejectedBatch, Report, ThreadedSink

PUSH_PATH = "loki/api/v1/push"
FULL_PATHS = ("/" + PUSH_PATH, "/logs", "/api/logs")
"""Addresses ending so are pushed to as they are: Loki's push URL, or another OIBus's log relay."""
MAX_BUFFER = 50_000
BATCH_SIZE = 2_000

_LOKI_LEVELS = {TRACE: "debug", DEBUG: "debug", INFO: "info", WARN: "warning", ERROR: "error", FATAL: "critical"}
# 4xx worth retrying: credentials or an address the operator will fix, throttling. Any other 4xx means Loki
# will never take these lines (too old, too big...).
_RETRYABLE = {401, 403, 404, 407, 408, 425, 429}


def push_url(address: str) -> str:
    """The URL pushes go to (see the module docstring)."""
    if address.rstrip("/").endswith(FULL_PATHS):
        return address
    return urljoin(address, PUSH_PATH)


@dataclass(frozen=True, slots=True)
class LokiSpec:
    """Target and batching of the Loki sink."""

    address: str
    username: str
    password: str = field(repr=False)
    interval_s: float
    engine_name: str


class LokiSink(ThreadedSink):
    """Pushes every ``interval`` seconds, or as soon as a full batch is buffered."""

    name = "loki"
    spec: LokiSpec

    def __init__(
        self,
        spec: LokiSpec,
        level: int,
        report: Report,
        *,
        max_buffer: int = MAX_BUFFER,
        batch_size: int = BATCH_SIZE,
        timeout_s: float = 10.0,
    ) -> None:
        super().__init__(spec, level, report, interval_s=spec.interval_s, max_buffer=max_buffer, batch_size=batch_size)
        self.url = push_url(spec.address)
        self.timeout_s = timeout_s
        self._headers = {"Content-Type": "application/json"}
        if spec.username:
            token = base64.b64encode(f"{spec.username}:{spec.password}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"
        # Loopback and plant networks: ignore *_proxy environment variables, as upstream does.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._encoder = msgspec.json.Encoder()

    def body(self, records: list[LogRecord]) -> bytes:
        """The push request body: one stream per label set, values in record order."""
        streams: dict[tuple[str, ...], dict[str, Any]] = {}
        name = self.spec.engine_name
        for record in records:
            level = _LOKI_LEVELS.get(record.level, "info")
            key = (level, record.scope_type, record.scope_id or "", record.scope_name or "")
            stream = streams.get(key)
            if stream is None:
                labels = {"name": name, "level": level, "scopeType": record.scope_type}
                if record.scope_id:
                    labels["scopeId"] = record.scope_id
                if record.scope_name:
                    labels["scopeName"] = record.scope_name
                stream = streams[key] = {"stream": labels, "values": []}
            stream["values"].append([str(record.time_ns), record.text])
        return self._encoder.encode({"streams": list(streams.values())})

    def write(self, records: list[LogRecord]) -> None:
        """POST one batch; 2xx is success, a definitive 4xx drops it, anything else keeps it for later."""
        request = urllib.request.Request(self.url, data=self.body(records), headers=self._headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as err:
            if 400 <= err.code < 500 and err.code not in _RETRYABLE:
                raise RejectedBatch(f"HTTP {err.code} {err.reason}") from err
            raise ConnectionError(f"HTTP {err.code} {err.reason}") from err
