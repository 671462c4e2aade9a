"""NATS North: each time-value published to JetStream on a subject made from its point id."""

from connectors.north.nats.connector import NatsNorth
from connectors.north.nats.manifest import MANIFEST

__all__ = ["MANIFEST", "NatsNorth"]
