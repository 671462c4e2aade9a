"""NATS North: JetStream publishes with a stable ``Nats-Msg-Id``; an entry is released once every ack arrived.

Each value of a cache entry is one message (its JSON time-value) on ``subject`` with ``{pointId}`` replaced.
All of an entry's messages are published asynchronously (at most ``PENDING`` awaiting their ack), then every
ack is awaited: ``handle_values_json`` returns only when the stream stored them all. The ``Nats-Msg-Id`` header
is a digest of the message, so a value sent again after a crash is dropped by the stream's duplicate window
(2 minutes by default) instead of being stored twice.

Reconnection has one owner, the engine's runner: the client never reconnects by itself, and a lost connection
is reported once through ``connection_lost``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js.api import PubAck

from connectors.base import ConnectorContext, NorthConnector, TimeValue
from connectors.common.published import decode_values, encode_values, message_id, render_name, value_message
from connectors.errors import ConnectorError, ConnectorNotReady, SendError
from connectors.north.nats.manifest import MANIFEST, NatsNorthSettings

__all__ = ["PENDING", "NatsNorth"]

PENDING = 4000
"""Messages published and not yet acknowledged at most."""

_FORBIDDEN = re.compile(r"[\s*>]")
"""Characters of a point id that cannot be in a subject (whitespace, wildcards): each becomes ``_``."""


class NatsNorth(NorthConnector[NatsNorthSettings]):
    """Publishes time-values to JetStream, one message per value, acknowledged before the entry is released."""

    manifest = MANIFEST

    def __init__(self, settings: NatsNorthSettings, context: ConnectorContext) -> None:
        super().__init__(settings, context)
        self._client: Client | None = None
        self._closing = False

    @property
    def servers(self) -> list[str]:
        """The server URLs of the settings."""
        return [url.strip() for url in self.settings.servers.split(",")]

    async def start(self) -> None:
        """Connect (``ConnectorNotReady`` naming the servers and the reason when it cannot)."""
        self._closing = False
        self._client = await self._connect(self._lost)

    async def stop(self) -> None:
        """Close the connection (idempotent)."""
        self._closing = True
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()

    async def test_connection(self) -> None:
        """Connect, check JetStream answers (and the stream exists, when one is named), disconnect."""
        client = await self._connect(None)
        try:
            js = client.jetstream(timeout=self.settings.connect_timeout / 1000)
            if self.settings.stream:
                await js.stream_info(self.settings.stream)
            else:
                await js.account_info()
        except nats.js.errors.NotFoundError:
            raise ConnectorError(
                f"NATS {self.settings.servers}: stream {self.settings.stream!r} does not exist"
            ) from None
        except (nats.errors.Error, TimeoutError) as err:
            raise ConnectorError(f"NATS {self.settings.servers}: JetStream does not answer: {err!r}") from err
        finally:
            with contextlib.suppress(Exception):
                await client.close()

    async def handle_values(self, values: list[TimeValue]) -> None:
        """Publish a batch given as decoded time-values."""
        await self.handle_values_json(encode_values(values))

    async def handle_values_json(self, data: bytes) -> None:
        """Publish every value of the entry; return once JetStream acknowledged them all."""
        values = decode_values(data)
        client = self._client
        if client is None or not client.is_connected:
            raise SendError(f"not connected to NATS {self.settings.servers}", retry_forever=True)
        js = client.jetstream(publish_async_max_pending=PENDING)
        stream = self.settings.stream or None
        try:
            async with asyncio.timeout(self.settings.ack_timeout / 1000):
                pending: list[asyncio.Future[PubAck]] = []
                for value in values:
                    message = value_message(value)
                    subject = render_name(self.settings.subject, value.pointId, _FORBIDDEN)
                    headers = {"Nats-Msg-Id": message_id(message)}
                    pending.append(await js.publish_async(subject, message, stream=stream, headers=headers))
                acks = await asyncio.gather(*pending)
        except TimeoutError:
            raise SendError(
                f"NATS {self.settings.servers} did not acknowledge the messages within {self.settings.ack_timeout} ms",
                retry_forever=True,
            ) from None
        except (nats.errors.NoRespondersError, nats.js.errors.NoStreamResponseError):
            raise SendError(f"no JetStream stream takes the subjects of {self.settings.subject!r}") from None
        except nats.js.errors.APIError as err:
            raise SendError(f"JetStream refused a message: {err}") from err
        except nats.errors.BadSubjectError as err:
            raise SendError(f"a point id makes an invalid subject from {self.settings.subject!r}: {err}") from err
        except (nats.errors.Error, OSError) as err:
            raise SendError(f"NATS {self.settings.servers}: {err!r}", retry_forever=True) from err
        duplicates = sum(1 for ack in acks if ack.duplicate)
        self.context.logger.debug("values published", count=len(acks), duplicates=duplicates)

    async def _connect(self, on_lost: Callable[[], Awaitable[None]] | None) -> Client:
        auth = self.settings.authentication
        callbacks = {} if on_lost is None else {"disconnected_cb": on_lost, "closed_cb": on_lost}
        try:
            client: Client = await nats.connect(
                self.servers,
                name=f"oibus-{self.context.id}",
                allow_reconnect=False,
                max_reconnect_attempts=1,  # the initial connect tries each server twice, then gives up
                reconnect_time_wait=0.1,
                connect_timeout=self.settings.connect_timeout / 1000,
                user=auth.username if auth.type == "user-password" else None,
                password=auth.password if auth.type == "user-password" else None,
                token=auth.token if auth.type == "token" else None,
                error_cb=self._error,
                **callbacks,
            )
        except (nats.errors.Error, OSError, TimeoutError) as err:
            raise ConnectorNotReady(f"cannot connect to NATS {self.settings.servers}: {_reason(err)}") from err
        return client

    async def _lost(self) -> None:
        if not self._closing:
            self._closing = True
            self.context.connection_lost(f"connection to NATS {self.settings.servers} lost")

    async def _error(self, err: Exception) -> None:
        if not self._closing:
            self.context.logger.debug("nats client error", error=_reason(err))


def _reason(err: BaseException) -> str:
    if isinstance(err, nats.errors.NoServersError):
        return "no server answered"
    return str(err) or type(err).__name__
