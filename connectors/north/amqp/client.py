"""Pipelined publishing on an aiormq channel: a window of publishes encoded in one write, one future per window.

``aiormq.Channel.basic_publish`` costs, per message, one ``send`` system call, a pamqp marshalling of three frames
and an asyncio future in the channel's future store: together ~150 µs of CPU on the test machine, which caps a
North at a few thousand messages/s whatever the broker can take. ``write_window`` does what ``basic_publish`` does
for a whole window under the channel's lock, cheaply:

- the frames of every publish (``Basic.Publish`` ``mandatory``, content header, body frames) are packed here with
  ``struct`` from the AMQP 0-9-1 frame layout (the parts that do not change inside a window built once), and the
  window goes to aiormq's writer as one ``ChannelFrame``: one write. ``tests/.../test_amqp_frames.py`` checks the
  bytes against pamqp's marshalling;
- each delivery tag gets a small ``_Slot`` where aiormq's reader resolves confirms (``confirmations``), not a
  future: a slot counts its window down, and the window's single future (from the channel's future store, so a
  closed channel fails it) completes when the broker confirmed every message of the window. A nack fails the
  window with aiormq's ``DeliveryError``, a return (``mandatory``: no queue took it) with its ``PublishError``.

- the broker's confirms are resolved by ``Confirms``, installed on the channel in place of aiormq's handler: for an
  ack with ``multiple`` aiormq goes over every outstanding delivery tag (up to two windows, 4,000) and schedules one
  callback per tag confirmed, again for a tag already scheduled by an earlier frame of the same read. RabbitMQ
  confirms transient messages a few at a time (one frame per ~7 messages in ``bench/amqp.py --transient``), so that
  was ~75% of the North's CPU (cProfile: 0.76M callbacks for 0.2M messages, 94 µs per frame). ``Confirms`` keeps
  the lowest tag not yet confirmed and resolves each tag once.

The attributes used (``delivery_tag``, ``confirmations``, ``message_id_delivery_tag``, ``write_queue``,
``max_content_size``, ``number``, ``lock``, ``create_future``) are the ones ``basic_publish`` itself uses;
pyproject pins aiormq's major version so that a change to them is seen at upgrade time.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Sequence
from typing import Any

import aiormq
from aiormq.abc import ChannelFrame
from aiormq.channel import Returning
from aiormq.exceptions import DeliveryError
from pamqp import commands as spec

from connectors.errors import SendError

__all__ = ["Confirms", "Outgoing", "Pending", "encode_publishes", "write_window"]

Outgoing = tuple[str, bytes, str]
"""A message to publish: routing key, body, message id (ASCII)."""

_FRAME = struct.Struct(">BHI")
"""Frame header: type, channel, payload size (followed by the payload and ``FRAME_END``)."""
_FRAME_END = b"\xce"
_METHOD, _HEADER, _BODY = 1, 2, 3
_PUBLISH = struct.pack(">HHH", 60, 40, 0)
"""``Basic.Publish`` (class 60, method 40) and its reserved short."""
_MANDATORY = b"\x01"
_CONTENT = struct.Struct(">HHQH")
"""Content header: class 60, weight 0, body size, property flags."""
_FLAGS = 0x8000 | 0x1000 | 0x0080
"""Properties sent: content-type (bit 15), delivery-mode (bit 12), message-id (bit 7), in that order."""


def _short(text: str, field: str) -> bytes:
    raw = text.encode()
    if len(raw) > 255:
        raise SendError(f"{field} {text[:60]!r}... is {len(raw)} bytes long; AMQP allows 255 at most")
    return bytes((len(raw),)) + raw


def encode_publishes(
    channel_number: int,
    exchange: str,
    messages: Sequence[Outgoing],
    *,
    delivery_mode: int,
    content_type: str,
    max_body: int,
) -> bytes:
    """The frames of a ``Basic.Publish`` (``mandatory``) of each message, bodies cut in frames of ``max_body``.

    A routing key, exchange, content type or message id over 255 bytes raises a ``SendError`` naming it.
    """
    frame = _FRAME.pack
    content = _CONTENT.pack
    exchange_part = _PUBLISH + _short(exchange, "exchange")
    properties = _short(content_type, "content type") + bytes((delivery_mode,))
    methods: dict[str, bytes] = {}
    parts: list[bytes] = []
    append = parts.append
    for routing_key, body, message_id in messages:
        method = methods.get(routing_key)
        if method is None:
            payload = exchange_part + _short(routing_key, "routing key") + _MANDATORY
            method = methods[routing_key] = frame(_METHOD, channel_number, len(payload)) + payload + _FRAME_END
        append(method)
        header = content(60, 0, len(body), _FLAGS) + properties + _short(message_id, "message id")
        append(frame(_HEADER, channel_number, len(header)))
        append(header)
        append(_FRAME_END)
        if len(body) <= max_body:
            if body:
                append(frame(_BODY, channel_number, len(body)))
                append(body)
                append(_FRAME_END)
        else:
            for start in range(0, len(body), max_body):
                piece = body[start : start + max_body]
                append(frame(_BODY, channel_number, len(piece)))
                append(piece)
                append(_FRAME_END)
    return b"".join(parts)


class _Window:
    """The messages of one window still waiting for their confirm, and the future they complete."""

    __slots__ = ("future", "waiting")

    def __init__(self, future: asyncio.Future[None], waiting: int) -> None:
        self.future = future
        self.waiting = waiting


class _Slot:
    """Where aiormq's reader resolves one delivery tag's confirm (the subset of a future it calls)."""

    __slots__ = ("_window",)

    def __init__(self, window: _Window) -> None:
        self._window = window

    def done(self) -> bool:
        return False  # a failed window ignores its later confirms here, not in aiormq's "ignored" warning

    def cancelled(self) -> bool:
        return False

    def set_result(self, _: object) -> None:
        window = self._window
        window.waiting -= 1
        if window.waiting == 0 and not window.future.done():
            window.future.set_result(None)

    def set_exception(self, error: BaseException) -> None:
        if not self._window.future.done():
            self._window.future.set_exception(error)


class Confirms:
    """The channel's handler of ``Basic.Ack``/``Basic.Nack``: each delivery tag resolved once, in order of tags.

    ``install`` puts it where aiormq's reader calls ``_on_confirm_frame``. An ack or nack with ``multiple`` covers
    every tag from the lowest one not yet covered up to its own; a tag no longer waiting (returned, or resolved by
    a single ack) is skipped. The confirmation's ``set_result``/``set_exception`` are those aiormq's own handler
    calls, so a ``basic_publish`` future on the same channel is resolved as aiormq would.
    """

    __slots__ = ("_channel", "_low")

    def __init__(self, channel: aiormq.Channel) -> None:
        self._channel = channel
        self._low = 1
        """Every tag below is covered by an ack or nack with ``multiple``."""

    @classmethod
    def install(cls, channel: aiormq.Channel) -> Confirms:
        """Resolve ``channel``'s confirms from now on (call before its first publish)."""
        confirms = cls(channel)
        channel._on_confirm_frame = confirms  # type: ignore[method-assign]
        return confirms

    async def __call__(self, frame: spec.Basic.Ack | spec.Basic.Nack | spec.Basic.Reject) -> None:
        """Resolve the tags ``frame`` confirms (as aiormq's reader awaits its handler)."""
        tag = frame.delivery_tag or 0
        if getattr(frame, "multiple", False):
            tags: range = range(self._low, tag + 1)
            self._low = max(self._low, tag + 1)
        else:
            tags = range(tag, tag + 1)
        confirmations: dict[int, Any] = self._channel.confirmations
        pop = confirmations.pop
        ack = isinstance(frame, spec.Basic.Ack)
        for each in tags:
            confirmation = pop(each, None)
            if confirmation is None or isinstance(confirmation, Returning) or confirmation.done():
                continue
            if ack:
                confirmation.set_result(frame)
            else:
                confirmation.set_exception(DeliveryError(None, frame))


class Pending:
    """A window written to the broker: its future, and its message ids to forget once done with it."""

    __slots__ = ("_channel", "_first", "_messages", "future")

    def __init__(self, channel: aiormq.Channel, first: int, messages: Sequence[Outgoing]) -> None:
        self._channel, self._first, self._messages = channel, first, messages
        self.future: asyncio.Future[None] = channel.create_future()

    def forget(self) -> None:
        """Cancel the future if still waiting, and drop the window's ids from the channel's table of returns."""
        self.future.cancel()
        by_id = self._channel.message_id_delivery_tag
        for tag, (_, _, message_id) in enumerate(self._messages, self._first):
            if by_id.get(message_id) == tag:
                del by_id[message_id]


async def write_window(
    channel: aiormq.Channel,
    exchange: str,
    messages: Sequence[Outgoing],
    *,
    delivery_mode: int,
    content_type: str = "application/json",
) -> Pending:
    """Publish ``messages`` in one write; the ``future`` returned completes once the broker confirmed every one.

    The future fails with what aiormq's confirmations fail with: ``DeliveryError`` (nack), ``PublishError``
    (returned: no queue took it), ``ChannelInvalidStateError`` / ``AMQPConnectionError`` (channel or connection
    closed). Call ``forget`` once done with it.
    """
    async with channel.lock:
        pending = Pending(channel, channel.delivery_tag + 1, messages)
        if not messages:
            pending.future.set_result(None)
            return pending
        payload = encode_publishes(
            channel.number,
            exchange,
            messages,
            delivery_mode=delivery_mode,
            content_type=content_type,
            max_body=channel.max_content_size,
        )
        confirmations: Any = channel.confirmations
        by_id = channel.message_id_delivery_tag
        slot = _Slot(_Window(pending.future, len(messages)))
        first = pending._first
        for tag, (_, _, message_id) in enumerate(messages, first):
            confirmations[tag] = slot
            by_id[message_id] = tag
        channel.delivery_tag = first + len(messages) - 1
        try:
            await channel.write_queue.put(ChannelFrame(payload=payload, should_close=False))
        except BaseException:
            # Not handed to the writer: the broker never sees these tags, give them back under the lock.
            channel.delivery_tag = first - 1
            for tag in range(first, first + len(messages)):
                confirmations.pop(tag, None)
            pending.forget()
            raise
    return pending
