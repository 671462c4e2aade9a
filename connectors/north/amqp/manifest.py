"""Manifest and settings of the AMQP North (RabbitMQ publisher confirms before release)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from connectors.common.published import NameTemplate
from connectors.manifest import ConnectorManifest, OptionalSecret

__all__ = ["MANIFEST", "AmqpNorthSettings"]


class AmqpNorthSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Broker, login, and where each value is published."""

    host: Annotated[
        str, msgspec.Meta(min_length=1, max_length=255, title="Host", description="Broker name or address.")
    ] = "localhost"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535, title="Port", description="Broker port (TLS: 5671).")] = 5672
    use_tls: Annotated[bool, msgspec.Meta(title="TLS", description="Connect over TLS (amqps).")] = False
    virtual_host: Annotated[
        str, msgspec.Meta(max_length=255, title="Virtual host", description="Broker virtual host.")
    ] = "/"
    username: Annotated[str, msgspec.Meta(max_length=255)] | None = None
    password: OptionalSecret = None
    exchange: Annotated[
        str,
        msgspec.Meta(
            max_length=255,
            title="Exchange",
            description="Exchange to publish to; it must exist (empty: the default exchange, routing key = queue).",
        ),
    ] = ""
    routing_key: Annotated[NameTemplate, msgspec.Meta(title="Routing key")] = "{pointId}"
    persistent: Annotated[
        bool, msgspec.Meta(title="Persistent", description="Delivery mode 2: durable queues keep messages on disk.")
    ] = True
    values_per_message: Annotated[
        int,
        msgspec.Meta(
            ge=1,
            le=10_000,
            title="Values per message",
            description=(
                "1: each value is one message (its JSON object). More: a message carries a JSON array of up to this"
                " many values of the same routing key."
            ),
        ),
    ] = 1
    connect_timeout: Annotated[
        int, msgspec.Meta(ge=100, le=300_000, title="Connect timeout", description="Time allowed to connect (ms).")
    ] = 10_000
    confirm_timeout: Annotated[
        int,
        msgspec.Meta(
            ge=100, le=600_000, title="Confirm timeout", description="Time allowed for a batch's confirms (ms)."
        ),
    ] = 30_000


MANIFEST = ConnectorManifest(
    id="amqp",
    kind="north",
    name="AMQP (RabbitMQ)",
    category="iot",
    description="Publish each time-value to an AMQP 0-9-1 exchange, released once the broker confirmed it",
    settings=AmqpNorthSettings,
    types=("time-values",),
)
