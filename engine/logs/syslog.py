"""Syslog sink: RFC 5424 lines over UDP (one datagram each) or TCP (newline framing, as upstream's pino-syslog).

``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG`` with facility local0, APP-NAME the engine name,
PROCID the engine's pid, MSGID the scope type (``south``, ``north``, ``history-query``, ``internal``), no
structured data, and MSG ``<scopeName>: <message>``. Line breaks inside MSG (tracebacks) are escaped as
``#012`` (rsyslog's convention) so a record stays one line on a TCP stream.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

from engine.logs.records import DEBUG, ERROR, FATAL, INFO, TRACE, WARN, LogRecord
from engine.logs.sinks import Report, ThreadedSink

FACILITY_LOCAL0 = 16
MAX_DATAGRAM = 8192
_SEVERITY = {TRACE: 7, DEBUG: 7, INFO: 6, WARN: 4, ERROR: 3, FATAL: 2}


def header_field(value: str | None, limit: int) -> str:
    """An RFC 5424 header field: printable US-ASCII without spaces, at most ``limit`` characters, ``-`` if empty."""
    if not value:
        return "-"
    return "".join(char if 33 <= ord(char) <= 126 else "_" for char in value[:limit])


def format_rfc5424(record: LogRecord, *, app_name: str, hostname: str, procid: str) -> str:
    """One syslog line for ``record`` (without the framing newline)."""
    pri = FACILITY_LOCAL0 * 8 + _SEVERITY.get(record.level, 6)
    text = record.text if record.scope_name is None else f"{record.scope_name}: {record.text}"
    text = text.replace("\r\n", "\n").replace("\n", "#012").replace("\r", "#015")
    return (
        f"<{pri}>1 {record.timestamp} {header_field(hostname, 255)} {header_field(app_name, 48)}"
        f" {header_field(procid, 128)} {header_field(record.scope_type, 32)} - {text}"
    )


@dataclass(frozen=True, slots=True)
class SyslogSpec:
    """Target of the syslog sink (``protocol`` is upstream's ``udp4`` or ``tcp``)."""

    host: str
    port: int
    protocol: str
    engine_name: str


class SyslogSink(ThreadedSink):
    """Sends buffered records every 0.2 s; a failed TCP send reconnects on the next attempt."""

    name = "syslog"
    spec: SyslogSpec

    def __init__(self, spec: SyslogSpec, level: int, report: Report, *, max_buffer: int = 10_000) -> None:
        super().__init__(spec, level, report, interval_s=0.2, max_buffer=max_buffer, batch_size=500)
        self.hostname = socket.gethostname()
        self.procid = str(os.getpid())
        self._socket: socket.socket | None = None
        self._address: Any = None

    def line(self, record: LogRecord) -> bytes:
        """The encoded line of one record."""
        return format_rfc5424(
            record, app_name=self.spec.engine_name, hostname=self.hostname, procid=self.procid
        ).encode("utf-8", "replace")

    def write(self, records: list[LogRecord]) -> None:
        """Send one batch (UDP: a datagram per record; TCP: newline-framed in one ``sendall``)."""
        lines = [self.line(record) for record in records]
        try:
            if self.spec.protocol == "tcp":
                self._tcp().sendall(b"".join(line + b"\n" for line in lines))
            else:
                sock = self._udp()
                for line in lines:
                    if len(line) > MAX_DATAGRAM:
                        line = line[:MAX_DATAGRAM].decode("utf-8", "ignore").encode()
                    sock.sendto(line, self._address)
        except OSError:
            self.shutdown()
            raise

    def _udp(self) -> socket.socket:
        if self._socket is None:
            family, kind, proto, _, address = socket.getaddrinfo(
                self.spec.host, self.spec.port, socket.AF_INET, socket.SOCK_DGRAM
            )[0]
            self._address = address
            self._socket = socket.socket(family, kind, proto)
        return self._socket

    def _tcp(self) -> socket.socket:
        if self._socket is None:
            sock = socket.create_connection((self.spec.host, self.spec.port), timeout=5.0)
            sock.settimeout(10.0)
            self._socket = sock
        return self._socket

    def shutdown(self) -> None:
        """Close the socket (the next attempt opens a new one)."""
        if self._socket is not None:
            try:
                self._socket.close()
            finally:
                self._socket = None
