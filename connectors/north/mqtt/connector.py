"""MQTT North connector: publishes each message of an ``mqtt`` content, and returns once the broker has them."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from connectors.base import ConnectorContext, NorthConnector
from connectors.common.mqtt import MqttSession, Qos, probe_connection
from connectors.errors import ConnectorError, SendError
from connectors.north.mqtt.manifest import MANIFEST, MqttNorthSettings

__all__ = ["PUBLISH_WINDOW", "MqttNorth"]

PUBLISH_WINDOW = 1000
"""QoS 1/2 messages published and not yet confirmed at most (fewer when the broker's receive maximum is lower)."""

_CONFIRM_TIMEOUT_S = 30.0


class _Message(msgspec.Struct, frozen=True, kw_only=True):
    """One element of an ``mqtt`` content (``qos``/``retain``: optional overrides, as later upstream)."""

    topic: str
    payload: Any = ""
    qos: Qos | int | None = None
    retain: bool | None = None


_MESSAGES = msgspec.json.Decoder(list[_Message])
_encode = msgspec.json.encode


class MqttNorth(NorthConnector[MqttNorthSettings]):
    """Publishes ``[{topic, payload}]`` with the configured QoS and retain flag.

    ``handle_content`` returns once the broker confirmed every QoS 1/2 message (PUBACK, PUBCOMP), so the
    cache entry is removed only then; a lost connection makes it fail with a retry-forever ``SendError``
    (messages published before the loss may be published again: at least once).
    """

    manifest = MANIFEST

    def __init__(self, settings: MqttNorthSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self._session: MqttSession | None = None

    async def start(self) -> None:
        """Connect to the broker (``ConnectorNotReady`` naming it and the reason when it cannot)."""
        session = MqttSession(
            self.settings,
            self.context.id,
            data_folder=self.context.data_folder,
            clean=not (self.settings.persistent and self.settings.qos != "0"),
            on_lost=self.context.connection_lost,
        )
        self._session = session
        await session.connect()

    async def stop(self) -> None:
        """Disconnect (idempotent)."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def test_connection(self) -> None:
        """Connect with a test client id and disconnect; raise a ``ConnectorError`` naming the broker and why."""
        await probe_connection(self.settings, self.context.id, self.context.data_folder)

    async def handle_content(self, content_type: str, data: bytes) -> None:
        """Publish every message of an ``mqtt`` content; return when the broker confirmed them all."""
        if content_type != "mqtt":
            raise SendError(f"content type {content_type!r} cannot be sent by the MQTT North")
        try:
            messages = _MESSAGES.decode(data)
        except msgspec.ValidationError as err:
            raise SendError(f"mqtt content is not [{{topic, payload}}]: {err}") from None
        except msgspec.DecodeError as err:
            raise SendError(f"mqtt content is not JSON: {err}") from None
        for index, message in enumerate(messages):
            if not message.topic or "+" in message.topic or "#" in message.topic:
                raise SendError(f"[{index}].topic: {message.topic!r} is not a topic name (empty or wildcard)")
        session = self._session
        if session is None:
            raise SendError("not connected to the broker", retry_forever=True)
        try:
            async with asyncio.timeout(_CONFIRM_TIMEOUT_S):
                await self._publish(session, messages)
        except TimeoutError:
            raise SendError(
                f"broker {session.broker} did not confirm the messages within {_CONFIRM_TIMEOUT_S:g} s",
                retry_forever=True,
            ) from None
        except ConnectorError as err:
            raise SendError(str(err), retry_forever=True) from err
        self.context.logger.debug("mqtt messages published", count=len(messages), broker=session.broker)

    async def _publish(self, session: MqttSession, messages: list[_Message]) -> None:
        window = max(1, min(PUBLISH_WINDOW, session.send_quota))
        for message in messages:
            qos = self.settings.qos_level if message.qos is None else int(message.qos)
            retain = self.settings.retain if message.retain is None else message.retain
            payload = message.payload
            body = payload.encode() if isinstance(payload, str) else _encode(payload)
            if session.unconfirmed >= window:
                await session.wait_confirmed(window - 1)
            session.publish(message.topic, body, min(max(qos, 0), 2), retain)
        await session.wait_confirmed(0)
