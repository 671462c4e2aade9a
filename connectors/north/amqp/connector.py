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
from typing import Any

import aio_pika
import aio_pika.abc
import aio_pika.exceptions
import aiormq
import aiormq.exceptions

from connectors.base import ConnectorContext, NorthConnector, TimeValue
from connectors.common.published import decode_values, encode_values, message_id, render_name, value_message
from connectors.errors import ConnectorError, ConnectorNotReady, SendError
from connectors.north.amqp.client import publish_window
from connectors.north.amqp.manifest import MANIFEST, AmqpNorthSettings

__all__ = ["WINDOW", "AmqpNorth"]

WINDOW = 2000
"""Messages published and not yet confirmed at most."""

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
        values = decode_values(data)
        channel = self._channel
        if channel is None or self._connection is None or self._connection.is_closed:
            raise SendError(f"not connected to {self.broker}", retry_forever=True)
        mode = 2 if self.settings.persistent else 1
        try:
            async with asyncio.timeout(self.settings.confirm_timeout / 1000):
                for start in range(0, len(values), WINDOW):
                    window = []
                    for value in values[start : start + WINDOW]:
                        body = value_message(value)
                        window.append((render_name(self.settings.routing_key, value.pointId), body, message_id(body)))
                    await publish_window(channel, self.settings.exchange, window, delivery_mode=mode)
        except TimeoutError:
            raise SendError(
                f"{self.broker} did not confirm the messages within {self.settings.confirm_timeout} ms",
                retry_forever=True,
            ) from None
        except aio_pika.exceptions.DeliveryError as err:
            raise SendError(f"{self.broker} routed a message to no queue (exchange {self._where}): {err}") from err
        except _LOST as err:
            raise SendError(f"{self.broker}: {err!r}", retry_forever=True) from err
        self.context.logger.debug("values published", count=len(values), broker=self.broker)

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
