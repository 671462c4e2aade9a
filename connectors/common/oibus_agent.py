"""The OIBus Agent's HTTP contract, shared by the Souths that read through it (``opc``, ``osisoft-pi``).

The agent is a Windows program that speaks COM/DCOM (OPC HDA/DA) or the PI SDK for OIBus. Upstream's
connectors talk to it over plain HTTP, one session per connector id under ``/api/<family>/<id>/``:
``PUT connect`` (a JSON body for OPC, none for PI), ``GET status`` (OPC), ``PUT read`` (a JSON body with
``startTime``, ``endTime`` and ``items``) and ``DELETE disconnect``. A read answers
``{recordCount, content: [time-values], maxInstantRetrieved, logs?}``; ``400`` carries the agent's message
as text; any other status is a failure without one. Connection and item tests use the id ``<id>-test`` so
they never disturb the running session.

Library errors are caught here and re-raised as ours: an agent that cannot be reached, or fails a read,
is a ``ConnectorConnectionError`` (the runner reconnects, which sends ``connect`` again: an agent that
restarted has forgotten the session), an agent that refuses ``connect`` a ``ConnectorNotReady`` that asks
for the connector's ``retryInterval`` before the next attempt.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, TypeVar

import aiohttp
import msgspec
from yarl import URL

from connectors.base import ConnectorContext, I, SouthCache, SouthConnector, TimeValue, ValueSink
from connectors.errors import ConnectorConnectionError, ConnectorError, ConnectorNotReady

__all__ = [
    "AGENT_TIMEOUT_S",
    "AgentClient",
    "AgentRetryInterval",
    "AgentSettings",
    "AgentSouth",
    "AgentUrl",
    "ReadAnswer",
    "iso_ms",
    "max_instant",
]

AGENT_TIMEOUT_S = 60.0
"""Longest a request to the agent may take (a history read of a wide window on a slow historian)."""

DISCONNECT_TIMEOUT_S = 3.0
"""Longest a stop waits for ``disconnect``: well within the supervisor's stop timeout."""

AgentUrl = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        title="Remote agent URL",
        description="Base URL of the OIBus Agent (http://host:2224), as the OIBus machine reaches it.",
    ),
]
AgentRetryInterval = Annotated[
    int,
    msgspec.Meta(
        ge=100,
        le=30_000,
        title="Retry interval",
        description="Pause before connecting to the agent again after a failed attempt.",
        extra={"unit": "ms"},
    ),
]


class AgentSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """The fields every agent-based South starts with (a subclass may change the defaults)."""

    agent_url: AgentUrl = "http://ip-adress-or-host:2224"
    retry_interval: AgentRetryInterval = 10_000

    def __post_init__(self) -> None:
        if not self.agent_url.startswith(("http://", "https://")):
            raise ValueError(f"agentUrl: must start with http:// or https://, got {self.agent_url!r}")


AS = TypeVar("AS", bound=AgentSettings)


class ReadAnswer(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """What the agent answers to ``read``."""

    record_count: int = 0
    content: list[dict[str, Any]] = msgspec.field(default_factory=list)
    max_instant_retrieved: str | None = None
    logs: list[str] = msgspec.field(default_factory=list)


_ANSWER = msgspec.json.Decoder(ReadAnswer)
_VALUE_KEYS = ("pointId", "timestamp", "data")


def _values(answer: ReadAnswer) -> list[TimeValue]:
    """The answer's content as time-values; a malformed entry is an error naming its index and field."""
    values: list[TimeValue] = []
    for index, entry in enumerate(answer.content):
        for key in _VALUE_KEYS:
            if key not in entry:
                raise ConnectorError(f"agent answer: content[{index}].{key} is missing")
        if not isinstance(entry["data"], dict) or not isinstance(entry["timestamp"], str):
            raise ConnectorError(f"agent answer: content[{index}] needs a text timestamp and a data object")
        try:
            datetime.fromisoformat(entry["timestamp"])
        except ValueError:
            raise ConnectorError(
                f"agent answer: content[{index}].timestamp {entry['timestamp']!r} is not an ISO 8601 instant"
            ) from None
        values.append(TimeValue(pointId=str(entry["pointId"]), timestamp=entry["timestamp"], data=entry["data"]))
    return values


def _reason(err: aiohttp.ClientError) -> str:
    """Why a request failed, without the URL aiohttp puts in some messages (it may carry credentials)."""
    if isinstance(err, aiohttp.ClientConnectorError):
        return err.os_error.strerror or type(err.os_error).__name__
    return type(err).__name__ if isinstance(err, aiohttp.InvalidURL) else str(err) or type(err).__name__


class AgentClient:
    """One HTTP session to the agent for one connector (``async with``)."""

    def __init__(self, agent_url: str, family: str, connector_id: str, retry_interval_ms: int) -> None:
        self._base = agent_url.rstrip("/")
        # Messages name the agent without any user:password a URL may carry (they reach logs and the API).
        self._where = str(URL(self._base).with_user(None))
        self._family = family
        self._id = connector_id
        self._retry_after_s = retry_interval_ms / 1000
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AgentClient:
        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *exc: object) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _url(self, action: str, *, test: bool) -> str:
        return f"{self._base}/api/{self._family}/{self._id}{'-test' if test else ''}/{action}"

    async def _call(
        self, method: str, action: str, body: Any, *, test: bool, timeout_s: float = AGENT_TIMEOUT_S
    ) -> tuple[int, bytes]:
        assert self._session is not None, "AgentClient used outside 'async with'"
        url = self._url(action, test=test)
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        try:
            async with self._session.request(method, url, json=body, timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as err:
            raise ConnectorConnectionError(f"OIBus Agent at {self._where} did not answer {action} in time") from err
        except aiohttp.ClientError as err:
            raise ConnectorConnectionError(f"cannot reach the OIBus Agent at {self._where}: {_reason(err)}") from err

    def _failure(self, action: str, status: int, body: bytes) -> str:
        text = body.decode(errors="replace").strip()[:500] if status == 400 else ""
        return f"OIBus Agent at {self._where} answered {action} with HTTP {status}" + (f": {text}" if text else "")

    async def connect(self, body: dict[str, Any] | None, *, test: bool = False) -> None:
        """``PUT connect``; ``ConnectorNotReady`` (retry after ``retryInterval``) when it fails."""
        try:
            status, answer = await self._call("PUT", "connect", body, test=test)
        except ConnectorConnectionError as err:
            raise ConnectorNotReady(str(err), retry_after_s=self._retry_after_s) from err
        if not 200 <= status < 300:
            raise ConnectorNotReady(self._failure("connect", status, answer), retry_after_s=self._retry_after_s)

    async def status(self, *, test: bool = False) -> Any:
        """``GET status``: the OPC server's description as the agent gives it."""
        status, answer = await self._call("GET", "status", None, test=test)
        if not 200 <= status < 300:
            raise ConnectorError(self._failure("status", status, answer))
        try:
            return msgspec.json.decode(answer) if answer else None
        except msgspec.DecodeError:
            return answer.decode(errors="replace")

    async def read(self, body: dict[str, Any], *, test: bool = False) -> tuple[ReadAnswer, list[TimeValue]]:
        """``PUT read``: the answer and its time-values; a failure asks the runner to reconnect."""
        status, answer = await self._call("PUT", "read", body, test=test)
        if status != 200:
            raise ConnectorConnectionError(self._failure("read", status, answer))
        try:
            decoded = _ANSWER.decode(answer)
        except (msgspec.DecodeError, msgspec.ValidationError) as err:
            raise ConnectorError(f"OIBus Agent at {self._where}: read answer is not as expected: {err}") from err
        return decoded, _values(decoded)

    async def disconnect(self, *, test: bool = False) -> str | None:
        """``DELETE disconnect``; returns why it failed (a stop goes on regardless), or ``None``."""
        try:
            status, answer = await self._call("DELETE", "disconnect", None, test=test, timeout_s=DISCONNECT_TIMEOUT_S)
        except ConnectorConnectionError as err:
            return str(err)
        return None if 200 <= status < 300 else self._failure("disconnect", status, answer)


def iso_ms(instant: datetime) -> str:
    """An instant as the agent expects it: UTC, milliseconds, ``Z``."""
    return instant.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def max_instant(answer: ReadAnswer, values: list[TimeValue]) -> datetime | None:
    """The answer's ``maxInstantRetrieved`` (else the newest timestamp of its values), as a UTC instant."""
    texts = [answer.max_instant_retrieved] if answer.max_instant_retrieved else [v["timestamp"] for v in values]
    newest: datetime | None = None
    for text in texts:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError as err:
            raise ConnectorError(f"agent answer: {text!r} is not an ISO 8601 instant") from err
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        newest = parsed if newest is None or parsed > newest else newest
    return newest


class AgentSouth(SouthConnector[AS, I]):
    """What the agent-based Souths share: one agent session from ``start`` to ``stop``, re-opened on demand.

    A subclass names its ``family`` (``opc``, ``pi``) and the body of its ``connect``. A failed read closes
    the session in our books: the next read (the runner's reconnection, or a history query's next attempt)
    sends ``connect`` first, because an agent that restarted knows nothing of the old session.
    """

    family: ClassVar[str]

    def __init__(self, settings: AS, context: ConnectorContext, sink: ValueSink, cache: SouthCache) -> None:
        super().__init__(settings, context, sink, cache)
        self._client: AgentClient | None = None
        self._session_open = False

    def connect_body(self) -> dict[str, Any] | None:
        """The JSON body of ``connect`` (none by default)."""
        return None

    def client(self) -> AgentClient:
        """A new client for this connector's agent and id."""
        return AgentClient(self.settings.agent_url, self.family, self.context.id, self.settings.retry_interval)

    async def start(self) -> None:
        """Open the HTTP session and the agent's session (``ConnectorNotReady`` while the agent refuses)."""
        client = self.client()
        await client.__aenter__()
        self._client = client
        try:
            await self._open()
        except BaseException:
            # The runner builds a new instance for its next attempt: this one must not leave a session open.
            self._client = None
            await client.__aexit__(None, None, None)
            raise

    async def _open(self) -> None:
        assert self._client is not None
        await self._client.connect(self.connect_body())
        self._session_open = True

    async def stop(self) -> None:
        """Tell the agent to close the session (a failure is only logged) and close the HTTP session."""
        client, self._client = self._client, None
        if client is None:
            return
        if self._session_open:
            self._session_open = False
            reason = await client.disconnect()
            if reason is not None:
                self.context.logger.warning("agent disconnect failed", reason=reason)
        await client.__aexit__(None, None, None)

    async def read(self, body: dict[str, Any]) -> tuple[ReadAnswer, list[TimeValue]]:
        """One ``read`` on the running session (opened again first when the last read failed)."""
        if self._client is None:
            raise ConnectorConnectionError("the agent session is not started")
        if not self._session_open:
            await self._open()
        try:
            return await self._client.read(body)
        except ConnectorConnectionError:
            self._session_open = False
            raise

    async def test_read(self, body: dict[str, Any]) -> list[TimeValue]:
        """``connect``, ``read`` and ``disconnect`` on the test id (``<id>-test``), apart from the running session."""
        async with self.client() as client:
            await client.connect(self.connect_body(), test=True)
            try:
                _, values = await client.read(body, test=True)
            finally:
                await client.disconnect(test=True)
        return values
