"""IPC message types exchanged between the engine and its workers.

Every message is a frozen dataclass with a ``kind`` class attribute; the codec turns it into one msgpack
map ``{"kind": ..., <fields>}``. Content payloads are opaque bytes: the engine forwards them to every
target North without decoding the values.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from engine.ipc.spec import ConnectorSpec

PROTOCOL_VERSION = 5


@dataclass(frozen=True, slots=True)
class Hello:
    """First frame of a worker: proves it speaks our protocol version."""

    kind: ClassVar[str] = "hello"
    protocol: int
    pid: int
    role: str


@dataclass(frozen=True, slots=True)
class Start:
    """Engine → worker: run this connector.

    ``connector``: the engine's connector DTO (camelCase, secrets decrypted), or the spec itself; the worker
    decodes it once into ``ConnectorSpec`` (see ``engine.ipc.spec``). ``role`` is ``south`` or ``north``.
    """

    kind: ClassVar[str] = "start"
    role: str
    connector: ConnectorSpec | dict[str, Any]
    data_dir: str
    engine_name: str = "OIBus"
    log_level: str = "info"


@dataclass(frozen=True, slots=True)
class Reconfigure:
    """Engine → worker: new settings and items for the running connector (``connector`` as in ``Start``)."""

    kind: ClassVar[str] = "reconfigure"
    connector: ConnectorSpec | dict[str, Any]


@dataclass(frozen=True, slots=True)
class Stop:
    """Engine → worker: flush, close and exit."""

    kind: ClassVar[str] = "stop"


@dataclass(frozen=True, slots=True)
class Trigger:
    """Engine → worker: the cron of a scan mode fired."""

    kind: ClassVar[str] = "trigger"
    scan_mode_id: str


@dataclass(frozen=True, slots=True)
class Content:
    """A batch of data travelling South → engine → North.

    ``content_type`` is ``time-values`` (``payload`` = JSON array of time-values, ``count`` elements),
    ``any`` (a file at ``file_path``, logical name ``filename``; or several files, ``files`` holding
    ``[path, filename]`` pairs, which the North stores as one cache entry each and answers for at once)
    or ``any-content`` (``payload`` = text). ``owned`` tells the North that the files are scratch copies
    nobody will modify, so they may be hard-linked instead of copied. ``seq`` is unique per sender and is
    echoed by ``Stored``/``Ack``. ``error`` (engine → North) says the content goes straight to the North's
    error cache, not to its send queue, and why (the custom transformer meant to convert it failed).
    """

    kind: ClassVar[str] = "content"
    seq: int
    source_id: str
    content_type: str
    payload: bytes | None = None
    file_path: str | None = None
    filename: str | None = None
    owned: bool = False
    count: int = 0
    items: list[str] = field(default_factory=list)
    source_type: str = "south"
    files: list[list[str]] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Stored:
    """North → engine: the content with this ``seq`` is durable in the North cache."""

    kind: ClassVar[str] = "stored"
    seq: int


@dataclass(frozen=True, slots=True)
class Refused:
    """North → engine: the content was not stored (cache full, unreadable file...)."""

    kind: ClassVar[str] = "refused"
    seq: int
    reason: str


@dataclass(frozen=True, slots=True)
class Ack:
    """Engine → South: every target North stored the content ``seq``; the source may forget it."""

    kind: ClassVar[str] = "ack"
    seq: int


@dataclass(frozen=True, slots=True)
class Nack:
    """Engine → South: the content ``seq`` could not be stored everywhere; keep it and retry later."""

    kind: ClassVar[str] = "nack"
    seq: int
    reason: str


@dataclass(frozen=True, slots=True)
class Log:
    """Worker → engine: one log record with its structured fields."""

    kind: ClassVar[str] = "log"
    level: str
    event: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Metrics:
    """Worker → engine: the connector's current metrics (counters and gauges)."""

    kind: ClassVar[str] = "metrics"
    values: dict[str, Any]


CONNECTOR_STATES = ("connecting", "connected", "retrying", "fatal")
"""The connector's own states, as ``ConnectorState.state`` names them."""


@dataclass(frozen=True, slots=True)
class ConnectorState:
    """Worker → engine: the connector's own state (its process may run while it cannot reach its peer).

    ``state`` is one of ``CONNECTOR_STATES``; ``since`` the ISO instant it entered that state. ``error`` is
    the last error (``retrying``, ``fatal``; kept while ``connecting`` again) and ``next_attempt`` the ISO
    instant of the next try (``retrying``). Sent on each transition, and again when a retry fails anew.
    """

    kind: ClassVar[str] = "connector-state"
    state: str
    since: str
    error: str | None = None
    next_attempt: str | None = None


@dataclass(frozen=True, slots=True)
class Request:
    """Either side → the other: call ``method`` with ``params``; answered by a ``Reply`` with the same id."""

    kind: ClassVar[str] = "request"
    id: int
    method: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to a ``Request``: ``result`` when ``ok``, else ``error`` (a message for operators)."""

    kind: ClassVar[str] = "reply"
    id: int
    ok: bool
    result: Any = None
    error: str | None = None


Message = (
    Hello
    | Start
    | Reconfigure
    | Stop
    | Trigger
    | Content
    | Stored
    | Refused
    | Ack
    | Nack
    | Log
    | Metrics
    | ConnectorState
    | Request
    | Reply
)

MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.kind: cls
    for cls in (
        Hello,
        Start,
        Reconfigure,
        Stop,
        Trigger,
        Content,
        Stored,
        Refused,
        Ack,
        Nack,
        Log,
        Metrics,
        ConnectorState,
        Request,
        Reply,
    )
}

FIELD_NAMES: dict[type[Message], tuple[str, ...]] = {
    cls: tuple(f.name for f in fields(cls)) for cls in MESSAGE_TYPES.values()
}
