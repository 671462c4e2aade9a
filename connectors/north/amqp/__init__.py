"""AMQP North: each time-value published to a RabbitMQ exchange with publisher confirms."""

from connectors.north.amqp.connector import AmqpNorth
from connectors.north.amqp.manifest import MANIFEST

__all__ = ["MANIFEST", "AmqpNorth"]
