"""The AMQP North's client: its frames are the bytes pamqp gives, its confirm handler resolves each tag once.

pamqp is aiormq's marshalling: the frames built by ``encode_publishes`` must equal its bytes for the same publishes.
"""

from __future__ import annotations

import asyncio

import pytest
from aiormq.abc import ChannelFrame
from aiormq.channel import Returning
from aiormq.exceptions import DeliveryError
from pamqp import commands as spec
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from connectors.errors import SendError
from connectors.north.amqp.client import Confirms, Outgoing, encode_publishes


def pamqp_bytes(channel: int, exchange: str, messages: list[Outgoing], mode: int, max_body: int) -> bytes:
    frames: list[object] = []
    for routing_key, body, message_id in messages:
        properties = spec.Basic.Properties(delivery_mode=mode, message_id=message_id, content_type="application/json")
        frames.append(spec.Basic.Publish(exchange=exchange, routing_key=routing_key, mandatory=True))
        frames.append(ContentHeader(properties=properties, body_size=len(body)))
        frames.extend(ContentBody(body[start : start + max_body]) for start in range(0, len(body), max_body))
    return ChannelFrame.marshall(channel_number=channel, frames=frames).payload  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", [1, 2])
def test_publishes_encode_as_pamqp_encodes_them(mode: int) -> None:
    messages: list[Outgoing] = [
        ("plant.temp", b'{"pointId":"temp","data":{"value":1}}', "0" * 32),
        ("plant.temp", b"", "1" * 32),  # no body: no body frame
        ("usine.température", "é".encode() * 300, "a" * 32),  # cut in frames of 100 bytes
        ("plant.other", b"x" * 100, "b" * 32),  # exactly one frame
    ]
    ours = encode_publishes(7, "oibus-x", messages, delivery_mode=mode, content_type="application/json", max_body=100)
    assert ours == pamqp_bytes(7, "oibus-x", messages, mode, 100)
    default_exchange = encode_publishes(
        1, "", messages[:1], delivery_mode=mode, content_type="application/json", max_body=131_000
    )
    assert default_exchange == pamqp_bytes(1, "", messages[:1], mode, 131_000)


def test_a_routing_key_over_255_bytes_is_refused_by_name() -> None:
    with pytest.raises(SendError, match=r"routing key 'plant\.ééé.*is 258 bytes long; AMQP allows 255 at most"):
        encode_publishes(
            1, "x", [("plant." + "é" * 126, b"{}", "0" * 32)], delivery_mode=2, content_type="a", max_body=100
        )


class _Channel:
    """The one attribute ``Confirms`` reads of an aiormq channel: its table of waiting confirmations."""

    def __init__(self, count: int) -> None:
        loop = asyncio.get_running_loop()
        self.confirmations: dict[int, object] = {tag: loop.create_future() for tag in range(1, count + 1)}


async def test_confirms_resolve_each_tag_once_whatever_mix_of_single_and_multiple_frames() -> None:
    channel = _Channel(8)
    futures = dict(channel.confirmations)
    channel.confirmations[4] = Returning()  # returned by the broker: its ack is ignored
    confirms = Confirms(channel)  # type: ignore[arg-type]
    await confirms(spec.Basic.Ack(delivery_tag=2, multiple=False))
    await confirms(spec.Basic.Ack(delivery_tag=3, multiple=True))  # 1 and 3; 2 is already done
    await confirms(spec.Basic.Nack(delivery_tag=6, multiple=True))  # 4 (returned) skipped, 5 and 6 refused
    await confirms(spec.Basic.Ack(delivery_tag=6, multiple=True))  # nothing new: no second resolution
    assert [tag for tag in range(1, 9) if futures[tag].done()] == [1, 2, 3, 5, 6]  # type: ignore[attr-defined]
    assert all(isinstance(futures[tag].result(), spec.Basic.Ack) for tag in (1, 2, 3))  # type: ignore[attr-defined]
    for tag in (5, 6):
        with pytest.raises(DeliveryError):
            futures[tag].result()  # type: ignore[attr-defined]
    assert sorted(channel.confirmations) == [7, 8]  # still waiting, nothing else kept
    await confirms(spec.Basic.Ack(delivery_tag=8, multiple=True))
    assert channel.confirmations == {}
