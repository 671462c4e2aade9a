"""MQTT glue shared by the MQTT South and North: connection settings and one broker session over gmqtt.

gmqtt is used (not paho-mqtt) for two reasons. With ``optimistic_acknowledgement=False`` it sends the PUBACK
(QoS 1) *and the PUBREC* (QoS 2, where the broker hands ownership over) only once our message callback has
finished, which is what the durability contract needs; paho answers a QoS 2 PUBLISH with PUBREC at once.
And it parses the socket stream in buffered chunks, several times cheaper per message than paho.

Reconnection has one owner, the engine's runner (STYLE R11): a session never reconnects by itself; it
reports a loss once through ``on_lost`` and is thrown away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import gmqtt
import msgspec
from gmqtt.mqtt.constants import MQTTv50, MQTTv311
from gmqtt.storage import PersistentStorage

from connectors.base import resolve_in
from connectors.errors import ConnectorConnectionError, ConnectorNotReady, ConnectorTimeout
from connectors.manifest import OptionalSecret

__all__ = [
    "FlushMessageTimeout",
    "MqttAuthentication",
    "MqttConnectionSettings",
    "MqttSession",
    "Qos",
    "probe_connection",
    "test_client_id",
    "topic_filter_problem",
    "topic_matches",
]

Qos = Literal["0", "1", "2"]

_SCHEMES = {"mqtt": (False, 1883), "tcp": (False, 1883), "mqtts": (True, 8883), "tls": (True, 8883)}
_SESSION_NEVER_EXPIRES = 0xFFFFFFFF
_KEEPALIVE_S = 60
_CLOSE_TIMEOUT_S = 2.0

# gmqtt logs through the standard library (reconnect attempts, writes to a closed socket after a stop...);
# the connectors report the state changes that matter themselves, once.
logging.getLogger("gmqtt").setLevel(logging.CRITICAL)


class _Silent:
    """The logger handed to gmqtt: its per-packet debug calls cost ~4% of a busy receiver even when disabled."""

    def _ignore(self, *args: Any, **kwargs: Any) -> None:
        del args, kwargs

    debug = info = warning = error = critical = exception = _ignore


_SILENT = _Silent()


class MqttAuthentication(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """How the client authenticates: nothing, user name and password, or a client certificate (TLS)."""

    type: Annotated[
        Literal["none", "basic", "cert"],
        msgspec.Meta(title="Type", description="none, basic (user name and password) or cert (client certificate)."),
    ] = "none"
    username: Annotated[str | None, msgspec.Meta(title="Username", description="User name (basic).")] = None
    password: Annotated[OptionalSecret, msgspec.Meta(title="Password", description="Password (basic).")] = None
    cert_file_path: Annotated[
        str | None, msgspec.Meta(title="Cert file path", description="Client certificate, PEM (cert).")
    ] = None
    key_file_path: Annotated[
        str | None,
        msgspec.Meta(title="Key file path", description="Private key of the client certificate, PEM (cert)."),
    ] = None
    ca_file_path: Annotated[
        str | None,
        msgspec.Meta(title="CA file path", description="CA certificates that sign the broker's certificate, PEM."),
    ] = None

    def __post_init__(self) -> None:
        if self.type == "basic" and not self.username:
            raise ValueError("authentication.username is required with basic authentication")
        if self.type == "cert" and not self.cert_file_path:
            raise ValueError("authentication.certFilePath is required with cert authentication")


FlushMessageTimeout = Annotated[
    int,
    msgspec.Meta(
        ge=10,
        le=60_000,
        title="Flush message timeout",
        description="Hand the buffered messages over at the latest this long after the first one arrived.",
        extra={"unit": "ms"},
    ),
]
"""How long a South subscribed to a broker keeps a batch before handing it over (MQTT and Sparkplug)."""


class MqttConnectionSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Broker connection settings common to the MQTT South and North (upstream names and defaults)."""

    url: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            title="URL",
            description="mqtt://host:port or tcp:// (plain), mqtts:// or tls:// (TLS).",
        ),
    ]
    qos: Annotated[Qos, msgspec.Meta(title="QoS", description="Quality of service: 0, 1 or 2.")] = "1"
    persistent: Annotated[
        bool,
        msgspec.Meta(
            title="Persistent",
            description="With QoS 1 or 2, keep the session at the broker (fixed client id, clean session off).",
        ),
    ] = False
    authentication: Annotated[
        MqttAuthentication, msgspec.Meta(title="Authentication", description="none, basic or cert.")
    ] = msgspec.field(default_factory=MqttAuthentication)
    reject_unauthorized: Annotated[
        bool,
        msgspec.Meta(
            title="Reject unauthorized",
            description="Over TLS, refuse a broker whose certificate does not verify against the CA.",
        ),
    ] = False
    reconnect_period: Annotated[
        int,
        msgspec.Meta(
            ge=0,
            title="Reconnect period",
            description="Accepted for compatibility; the engine's backoff (1 s to 60 s) paces reconnections.",
            extra={"unit": "ms"},
        ),
    ] = 10000
    connect_timeout: Annotated[
        int,
        msgspec.Meta(
            ge=100,
            le=300_000,
            title="Connect timeout",
            description="Time allowed to connect and be accepted by the broker.",
            extra={"unit": "ms"},
        ),
    ] = 10000

    def __post_init__(self) -> None:
        scheme = urlsplit(self.url).scheme.lower()
        if scheme in ("ws", "wss"):
            raise ValueError(f"url: MQTT over websockets ({scheme}://) is not supported")
        if scheme not in _SCHEMES:
            raise ValueError("url: expected mqtt://, mqtts://, tcp:// or tls:// followed by host[:port]")
        try:
            parsed = urlsplit(self.url)
            parsed.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as err:
            raise ValueError(f"url: {err}") from None
        if not parsed.hostname:
            raise ValueError("url: the host is missing")
        if self.authentication.type == "cert" and not _SCHEMES[scheme][0]:
            raise ValueError("authentication: cert authentication needs a TLS url (mqtts:// or tls://)")

    @property
    def qos_level(self) -> int:
        """The QoS as a number."""
        return int(self.qos)


@dataclass(frozen=True, slots=True)
class _Endpoint:
    host: str
    port: int
    tls: bool


def _endpoint(settings: MqttConnectionSettings) -> _Endpoint:
    parsed = urlsplit(settings.url)
    tls, default_port = _SCHEMES[parsed.scheme.lower()]
    return _Endpoint(host=parsed.hostname or "", port=parsed.port or default_port, tls=tls)


def _tls_context(settings: MqttConnectionSettings, data_folder: Path) -> ssl.SSLContext:
    """The TLS context of an mqtts:// connection (CA, client certificate, verification)."""
    auth = settings.authentication

    def _resolve(path: str) -> Path:
        return resolve_in(data_folder, path)

    try:
        context = ssl.create_default_context(cafile=str(_resolve(auth.ca_file_path)) if auth.ca_file_path else None)
    except (OSError, ssl.SSLError) as err:
        raise ConnectorNotReady(f"CA file {auth.ca_file_path} cannot be used: {_reason(err)}") from err
    if not settings.reject_unauthorized:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if auth.type == "cert" and auth.cert_file_path:
        cert = _resolve(auth.cert_file_path)
        key = _resolve(auth.key_file_path) if auth.key_file_path else None
        try:
            context.load_cert_chain(str(cert), str(key) if key else None)
        except (OSError, ssl.SSLError) as err:
            raise ConnectorNotReady(
                f"client certificate {auth.cert_file_path} (key {auth.key_file_path}) cannot be used: {_reason(err)}"
            ) from err
    return context


def _reason(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror and not isinstance(err, ssl.SSLError):
        return err.strerror
    return str(err) or type(err).__name__


def test_client_id(client_id: str) -> str:
    """A client id for a connection or item test: never the running connector's (the broker would drop it)."""
    return f"{client_id}-test-{uuid.uuid4().hex[:8]}"


async def probe_connection(settings: MqttConnectionSettings, client_id: str, data_folder: Path) -> None:
    """Connect with a test client id, then disconnect; raise a ``ConnectorError`` naming the broker and why."""
    session = MqttSession(settings, test_client_id(client_id), data_folder=data_folder)
    try:
        await session.connect()
    finally:
        await session.close()


class _Confirmations(PersistentStorage):  # type: ignore[misc]  # gmqtt is untyped
    """gmqtt's store of sent QoS 1/2 packets the broker has not confirmed yet, counted for ``wait_confirmed``."""

    def __init__(self) -> None:
        super().__init__()
        self.unconfirmed: set[int] = set()
        self.changed = asyncio.Event()

    def push_message(self, mid: int, raw_package: bytes) -> None:
        super().push_message(mid, raw_package)
        self.unconfirmed.add(mid)

    def remove_message_by_mid(self, mid: int) -> None:
        super().remove_message_by_mid(mid)
        self.unconfirmed.discard(mid)
        self.changed.set()

    def clear(self) -> None:
        super().clear()
        self.unconfirmed.clear()
        self.changed.set()


class _Client(gmqtt.Client):  # type: ignore[misc]  # gmqtt is untyped
    """gmqtt's client without its own reconnection: the engine's runner owns that (STYLE R11).

    gmqtt calls ``reconnect`` after a lost connection, after a refused CONNACK, and to retry with MQTT 3.1.1
    when a broker refuses MQTT 5. We only note that it asked, so that ``connect`` can tell.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.handshake_refused = asyncio.Event()

    async def reconnect(self, delay: bool = False) -> None:
        """Do not reconnect (see the class docstring)."""
        del delay
        self.handshake_refused.set()


MessageHandler = Callable[[Any, str, bytes, int, dict[str, Any]], Any]
"""gmqtt's ``on_message(client, topic, payload, qos, properties)``; a coroutine function delays the ack."""


class MqttSession:
    """One connection to the broker. Build, ``await connect()``, use, ``await close()``; never reused.

    ``clean``: start a new session (``False``: resume the stored one, kept by the broker forever).
    ``manual_ack``: acknowledge a QoS 1/2 message only when ``on_message`` (a coroutine function) returned.
    ``on_lost(reason)`` is called once if the connection ends without ``close``.
    ``mqtt5``: try MQTT 5 first (receive maximum, session expiry); ``False``: MQTT 3.1.1 only, whose messages
    carry no properties to parse (cheaper when neither a session nor acknowledgements are involved).
    ``will``: ``(topic, payload, qos)`` the broker publishes when the connection ends without a DISCONNECT.
    """

    def __init__(
        self,
        settings: MqttConnectionSettings,
        client_id: str,
        *,
        data_folder: Path,
        clean: bool = True,
        on_message: MessageHandler | None = None,
        on_lost: Callable[[str], None] | None = None,
        manual_ack: bool = False,
        receive_maximum: int | None = None,
        mqtt5: bool = True,
        will: tuple[str, bytes, int] | None = None,
    ) -> None:
        self.settings = settings
        # Relative certificate and key paths are relative to the engine's data folder.
        self.data_folder = data_folder
        self._will = will
        self.client_id = client_id
        self.endpoint = _endpoint(settings)
        self._clean = clean
        self._on_message = on_message
        self._on_lost = on_lost
        self._manual_ack = manual_ack
        self._receive_maximum = receive_maximum
        self._versions = (MQTTv50, MQTTv311) if mqtt5 else (MQTTv311,)
        self._client: _Client | None = None
        self._confirmations = _Confirmations()
        self._suback: dict[int, asyncio.Future[tuple[int, ...]]] = {}
        self._closing = False
        self._lost = False
        self.session_present = False
        self.send_quota = 65535

    @property
    def broker(self) -> str:
        """``host:port`` of the broker, for messages."""
        return f"{self.endpoint.host}:{self.endpoint.port}"

    def _build(self, version: int) -> _Client:
        properties: dict[str, Any] = {}
        if version == MQTTv50:
            if not self._clean:
                properties["session_expiry_interval"] = _SESSION_NEVER_EXPIRES
            if self._receive_maximum:
                properties["receive_maximum"] = self._receive_maximum
        client = _Client(
            self.client_id,
            clean_session=self._clean,
            optimistic_acknowledgement=not self._manual_ack,
            persistent_storage=self._confirmations,
            will_message=None if self._will is None else gmqtt.Message(*self._will[:2], qos=self._will[2]),
            logger=_SILENT,
            **properties,
        )
        auth = self.settings.authentication
        if auth.type == "basic":
            client.set_auth_credentials(auth.username or "", auth.password or "")
        if self._on_message is not None:
            client.on_message = self._on_message
        client.on_connect = self._connected
        client.on_disconnect = self._disconnected
        client.on_subscribe = self._subscribed
        return client

    async def connect(self) -> None:
        """Connect and be accepted; ``ConnectorNotReady``/``ConnectorTimeout`` name the broker and the reason."""
        ssl_context = _tls_context(self.settings, self.data_folder) if self.endpoint.tls else False
        timeout_s = self.settings.connect_timeout / 1000
        # MQTT 5 first (receive maximum, session expiry); a broker that refuses it gets MQTT 3.1.1.
        for version in self._versions:
            client = self._build(version)
            self._client = client
            try:
                accepted = await self._handshake(client, ssl_context, version, timeout_s)
            except BaseException:
                # A client that never connected is no live client: publishing on it must say "not connected".
                self._client = None
                await self._discard(client)
                raise
            if accepted:
                return
            self._client = None
            await self._discard(client)
        raise ConnectorNotReady(f"broker {self.broker} refused the MQTT handshake (MQTT 5 and 3.1.1)")

    def pause_reading(self) -> None:
        """Stop reading from the socket (TCP back-pressure to the broker) until ``resume_reading``.

        gmqtt has no public flow control, so this pauses the asyncio transport of its connection.
        """
        transport = self._transport()
        if transport is not None and transport.is_reading():
            transport.pause_reading()

    def resume_reading(self) -> None:
        """Read from the socket again."""
        transport = self._transport()
        if transport is not None and not transport.is_closing() and not transport.is_reading():
            transport.resume_reading()

    def _transport(self) -> asyncio.Transport | None:
        connection = getattr(self._client, "_connection", None)
        transport = getattr(connection, "_transport", None)
        return transport if isinstance(transport, asyncio.Transport) else None

    async def _handshake(
        self, client: _Client, ssl_context: ssl.SSLContext | bool, version: int, timeout_s: float
    ) -> bool:
        connecting = asyncio.ensure_future(
            client.connect(
                self.endpoint.host, self.endpoint.port, ssl=ssl_context, keepalive=_KEEPALIVE_S, version=version
            )
        )
        refused = asyncio.ensure_future(client.handshake_refused.wait())
        try:
            done, _ = await asyncio.wait({connecting, refused}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            refused.cancel()
            if not connecting.done():
                connecting.cancel()
                await asyncio.gather(connecting, return_exceptions=True)
        if connecting in done:
            try:
                connecting.result()
            except gmqtt.MQTTConnectError as err:
                raise ConnectorNotReady(f"broker {self.broker} refused the connection: {err.message}") from err
            except ssl.SSLError as err:
                raise ConnectorNotReady(f"TLS with broker {self.broker} failed: {_reason(err)}") from err
            except OSError as err:
                raise ConnectorNotReady(f"broker {self.broker} unreachable: {_reason(err)}") from err
            return True
        if refused in done:
            if version == MQTTv50 and len(self._versions) > 1:
                return False
            raise ConnectorNotReady(f"broker {self.broker} closed the connection during the MQTT handshake")
        raise ConnectorTimeout(f"broker {self.broker} did not accept the connection within {timeout_s:g} s")

    def _connected(self, client: Any, flags: int, rc: int, properties: dict[str, Any]) -> None:
        del client, rc
        self.session_present = bool(flags)
        # The broker's receive maximum (MQTT 5): how many QoS 1/2 messages we may have unconfirmed at once.
        # gmqtt merges our CONNECT properties over the CONNACK ones, so it is known only when we sent none.
        if not self._receive_maximum:
            quota = (properties.get("receive_maximum") or [65535])[0]
            self.send_quota = max(1, int(quota) - 1)

    def _disconnected(self, client: Any, packet: Any, exc: BaseException | None = None) -> None:
        del client, packet, exc
        if self._closing or self._lost:
            return
        self._lost = True
        for waiter in self._suback.values():
            if not waiter.done():
                waiter.set_exception(ConnectorConnectionError(f"connection to broker {self.broker} lost"))
        self._confirmations.changed.set()
        if self._on_lost is not None:
            self._on_lost(f"connection to broker {self.broker} lost")

    def _subscribed(self, client: Any, mid: int, granted: tuple[int, ...], properties: dict[str, Any]) -> None:
        del client, properties
        waiter = self._suback.pop(mid, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(tuple(granted))

    def _live_client(self) -> _Client:
        if self._client is None or self._lost or self._closing:
            raise ConnectorConnectionError(f"not connected to broker {self.broker}")
        return self._client

    async def subscribe(self, topics: list[str], qos: int) -> dict[str, int]:
        """Subscribe and wait for the broker's answer: the granted QoS of each topic (``>= 128``: refused)."""
        if not topics:
            return {}
        client = self._live_client()
        mid = client.subscribe([gmqtt.Subscription(topic, qos=qos) for topic in topics])
        waiter: asyncio.Future[tuple[int, ...]] = asyncio.get_running_loop().create_future()
        self._suback[mid] = waiter
        try:
            async with asyncio.timeout(self.settings.connect_timeout / 1000):
                granted = await waiter
        except TimeoutError:
            raise ConnectorTimeout(f"broker {self.broker} did not answer the subscription of {topics}") from None
        finally:
            self._suback.pop(mid, None)
        return dict(zip(topics, granted, strict=False))

    def unsubscribe(self, topics: list[str]) -> None:
        """Unsubscribe from ``topics`` (the broker's answer is not awaited)."""
        if topics:
            self._live_client().unsubscribe(topics)

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        """Queue a PUBLISH; ``wait_confirmed`` tells when the broker confirmed every QoS 1/2 one."""
        self._live_client().publish(topic, payload, qos=qos, retain=retain)

    @property
    def unconfirmed(self) -> int:
        """QoS 1/2 messages published and not yet confirmed by the broker."""
        return len(self._confirmations.unconfirmed)

    async def wait_confirmed(self, at_most: int = 0) -> None:
        """Wait until at most ``at_most`` published messages wait for the broker's confirmation."""
        while len(self._confirmations.unconfirmed) > at_most:
            if self._lost or self._closing:
                raise ConnectorConnectionError(f"connection to broker {self.broker} lost before it confirmed")
            self._confirmations.changed.clear()
            await self._confirmations.changed.wait()

    async def close(self) -> None:
        """Disconnect (idempotent); nothing is acknowledged through this session afterwards."""
        self._closing = True
        client, self._client = self._client, None
        if client is not None:
            await self._discard(client)
        self._confirmations.changed.set()

    @staticmethod
    async def _discard(client: _Client) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                await client.disconnect()


_WILDCARDS = frozenset("+#")


def topic_filter_problem(topic: str) -> str | None:
    """Why ``topic`` is not a valid MQTT topic filter, or ``None``."""
    if not topic:
        return "must not be empty"
    if "\x00" in topic:
        return "must not contain a NUL character"
    levels = topic.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            return "'#' must be a whole level, and the last one"
        if "+" in level and level != "+":
            return "'+' must be a whole level"
    return None


def topic_matches(topic_filter: str, topic: str) -> bool:
    """Whether the topic name ``topic`` matches the filter ``topic_filter`` (``+`` and ``#`` wildcards)."""
    if not _WILDCARDS & set(topic_filter):
        return topic_filter == topic
    # A filter starting with a wildcard does not match topics starting with '$' (MQTT 4.7.2).
    if topic.startswith("$") and topic_filter[0] in _WILDCARDS:
        return False
    names = topic.split("/")
    for index, level in enumerate(topic_filter.split("/")):
        if level == "#":
            return True
        if index >= len(names) or (level != "+" and level != names[index]):
            return False
    return len(names) == len(topic_filter.split("/"))
