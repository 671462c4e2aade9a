"""AMQP North: one message per value, ``mandatory``, with publisher confirms awaited before the entry is released.

``mandatory`` matters: a broker confirms a message that no queue takes (it drops it). With ``mandatory`` it
returns it first, which fails the entry instead of losing the values silently. Each message's ``message_id`` is a
digest of its body: a value sent again after a crash carries the same id, so a consumer can drop the duplicate
(AMQP brokers do not deduplicate).

Reconnection has one owner, the engine's runner: the connection is a plain (not "robust") one, and its loss is
reported once through ``connection_lost``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from typing import Any

import aio_pika
import aio_pika.abc
import aio_pika.exceptions
import aiormq
import aiormq.exceptions

from connectors.base import ConnectorContext, NorthConnector, TimeValue
from connectors.common.published import (
    CachedValue,
    decode_values,
    encode_values,
    message_id,
    render_name,
    value_message,
)
from connectors.errors import ConnectorError, ConnectorNotReady, SendError
from connectors.north.amqp.client import Confirms, Outgoing, Pending, write_window
from connectors.north.amqp.manifest import MANIFEST, AmqpNorthSettings

__all__ = ["DEPTH", "WINDOW", "AmqpNorth"]

WINDOW = 2000
"""Messages written to the broker in one write."""
DEPTH = 2
"""Windows written and not yet confirmed at most: the next window is on its way while the broker confirms one."""

_LOST = (aiormq.exceptions.AMQPConnectionError, aiormq.exceptions.ChannelInvalidStateError, ConnectionError, OSError)


class AmqpNorth(NorthConnector[AmqpNorthSettings]):
    """Publishes time-values to an exchange; an entry is released once the broker confirmed every message."""

    manifest = MANIFEST

    def __init__(self, settings: AmqpNorthSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self._connection: aio_pika.abc.AbstractConnection | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None
        self._channel: aiormq.Channel | None = None
        """The exchange's aiormq channel, on which ``publish_window`` writes."""
        self._closing = False

    @property
    def broker(self) -> str:
        """The broker, for messages."""
        s = self.settings
        return (
            f"amqp{'s' if s.use_tls else ''}://{s.host}:{s.port}{'' if s.virtual_host == '/' else '/' + s.virtual_host}"
        )

    async def start(self) -> None:
        """Connect, open a confirming channel, and find the exchange (``ConnectorNotReady`` saying why)."""
        self._closing = False
        connection = await self._connect()
        try:
            self._exchange = await self._open_exchange(connection)
            underlay = await self._exchange.channel.get_underlay_channel()  # type: ignore[attr-defined]
            assert isinstance(underlay, aiormq.Channel)
            Confirms.install(underlay)
            self._channel = underlay
        except BaseException:
            await _close(connection)
            raise
        connection.close_callbacks.add(self._lost)
        self._connection = connection

    async def stop(self) -> None:
        """Close the connection (idempotent)."""
        self._closing = True
        connection, self._connection, self._exchange, self._channel = self._connection, None, None, None
        if connection is not None:
            await _close(connection)

    async def test_connection(self) -> None:
        """Connect and find the exchange; raise a ``ConnectorError`` naming the broker and the problem."""
        connection = await self._connect()
        try:
            await self._open_exchange(connection)
        finally:
            await _close(connection)

    async def handle_values(self, values: list[TimeValue]) -> None:
        """Publish a batch given as decoded time-values."""
        await self.handle_values_json(encode_values(values))

    async def handle_values_json(self, data: bytes) -> None:
        """Publish every value of the entry; return once the broker confirmed them all."""
        messages = self._messages(decode_values(data))
        channel = self._channel
        if channel is None or self._connection is None or self._connection.is_closed:
            raise SendError(f"not connected to {self.broker}", retry_forever=True)
        mode = 2 if self.settings.persistent else 1
        exchange = self.settings.exchange
        pending: deque[Pending] = deque()
        try:
            async with asyncio.timeout(self.settings.confirm_timeout / 1000):
                for start in range(0, len(messages), WINDOW):
                    if len(pending) == DEPTH:
                        await pending[0].future
                        pending.popleft().forget()
                    window = messages[start : start + WINDOW]
                    pending.append(await write_window(channel, exchange, window, delivery_mode=mode))
                while pending:
                    await pending[0].future
                    pending.popleft().forget()
        except TimeoutError:
            raise SendError(
                f"{self.broker} did not confirm the messages within {self.settings.confirm_timeout} ms",
                retry_forever=True,
            ) from None
        except aio_pika.exceptions.PublishError as err:
            raise SendError(f"{self.broker} routed a message to no queue (exchange {self._where}): {err}") from err
        except aio_pika.exceptions.DeliveryError:
            raise SendError(
                f"{self.broker} refused a message (nack: a queue is full or the broker is out of resources)",
                retry_forever=True,
            ) from None
        except _LOST as err:
            raise SendError(f"{self.broker}: {err!r}", retry_forever=True) from err
        finally:
            for written in pending:
                written.forget()
        self.context.logger.debug("values published", count=len(messages), broker=self.broker)

    def _messages(self, values: list[CachedValue]) -> list[Outgoing]:
        """The messages of an entry: one per value, or up to ``valuesPerMessage`` values of one routing key."""
        template = self.settings.routing_key
        keys: dict[str, str] = {}
        size = self.settings.values_per_message
        if size == 1:
            out: list[Outgoing] = []
            for value in values:
                key = keys.get(value.pointId)
                if key is None:
                    key = keys[value.pointId] = render_name(template, value.pointId)
                body = value_message(value)
                out.append((key, body, message_id(body)))
            return out
        groups: dict[str, list[CachedValue]] = {}
        for value in values:
            key = keys.get(value.pointId)
            if key is None:
                key = keys[value.pointId] = render_name(template, value.pointId)
            groups.setdefault(key, []).append(value)
        out = []
        for key, group in groups.items():
            for start in range(0, len(group), size):
                body = encode_values(group[start : start + size])
                out.append((key, body, message_id(body)))
        return out

    @property
    def _where(self) -> str:
        return repr(self.settings.exchange) if self.settings.exchange else "(default)"

    async def _connect(self) -> aio_pika.abc.AbstractConnection:
        s = self.settings
        options: dict[str, Any] = {"ssl": True, "ssl_context": ssl.create_default_context()} if s.use_tls else {}
        try:
            connection: aio_pika.abc.AbstractConnection = await aio_pika.connect(
                host=s.host,
                port=s.port,
                login=s.username or "guest",
                password=s.password or "guest",
                virtualhost=s.virtual_host,
                timeout=s.connect_timeout / 1000,
                client_properties={"connection_name": f"oibus-{self.context.id}"},
                **options,
            )
        except aiormq.exceptions.ProbableAuthenticationError as err:
            raise ConnectorNotReady(f"{self.broker} refused the credentials of {s.username or 'guest'!r}") from err
        except (*_LOST, TimeoutError) as err:
            raise ConnectorNotReady(f"cannot connect to {self.broker}: {err!r}") from err
        return connection

    async def _open_exchange(self, connection: aio_pika.abc.AbstractConnection) -> aio_pika.abc.AbstractExchange:
        try:
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            if not self.settings.exchange:
                return channel.default_exchange
            return await channel.get_exchange(self.settings.exchange, ensure=True)
        except aiormq.exceptions.ChannelNotFoundEntity as err:
            raise ConnectorNotReady(f"{self.broker}: exchange {self._where} does not exist") from err
        except aiormq.exceptions.AMQPError as err:
            raise ConnectorError(f"{self.broker}: {err!r}") from err

    def _lost(self, *args: object) -> None:
        if not self._closing:
            self._closing = True
            self.context.connection_lost(f"connection to {self.broker} lost")


async def _close(connection: aio_pika.abc.AbstractConnection) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(connection.close(), 5)
