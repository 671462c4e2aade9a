"""Engine ↔ worker wire protocol (shared by both sides; imports nothing else of the project)."""

from engine.ipc.codec import ProtocolError, decode, encode, read_message
from engine.ipc.messages import (
    PROTOCOL_VERSION,
    Ack,
    Content,
    Hello,
    Log,
    Message,
    Metrics,
    Nack,
    Reconfigure,
    Refused,
    Reply,
    Request,
    Start,
    Stop,
    Stored,
    Trigger,
)

__all__ = [
    "PROTOCOL_VERSION",
    "Ack",
    "Content",
    "Hello",
    "Log",
    "Message",
    "Metrics",
    "Nack",
    "ProtocolError",
    "Reconfigure",
    "Refused",
    "Reply",
    "Request",
    "Start",
    "Stop",
    "Stored",
    "Trigger",
    "decode",
    "encode",
    "read_message",
]
