"""NATS North against a private nats-server with JetStream (a real child process)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import nats
import pytest
from fakes import RecordingLogger
from nats.js import JetStreamContext
from servers.nats import PrivateNats, private_nats

from connectors.base import ConnectorContext
from connectors.common.published import message_id
from connectors.errors import ConnectorError, ConnectorNotReady, SendError
from connectors.north.nats import NatsNorth
from connectors.north.nats.manifest import NatsNorthSettings


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PrivateNats]:
    with private_nats(tmp_path / "nats") as running:
        yield running


@pytest.fixture
async def js(server: PrivateNats) -> AsyncIterator[JetStreamContext]:
    client = await nats.connect(server.url, allow_reconnect=False)
    context = client.jetstream()
    await context.add_stream(name="PLANT", subjects=["plant.>"])
    yield context
    await client.close()


def make(url: str, on_lost: Callable[[str], None] | None = None, **settings: Any) -> NatsNorth:
    wire = {"servers": url, "subject": "plant.{pointId}", "stream": "PLANT", **settings}
    context = ConnectorContext(
        id="n1",
        name="nats",
        logger=RecordingLogger(),
        base_folder=Path("."),
        data_folder=Path("."),
        connection_lost=on_lost or (lambda reason: None),
    )
    return NatsNorth(msgspec.convert(wire, NatsNorthSettings), context)


def entry(*rows: tuple[str, str, Any]) -> bytes:
    return json.dumps([{"pointId": p, "timestamp": t, "data": {"value": v}} for p, t, v in rows]).encode()


async def stored(js: JetStreamContext) -> list[tuple[str, dict[str, Any], str, bytes]]:
    """Every message of the stream: (subject, decoded body, Nats-Msg-Id, body)."""
    info = await js.stream_info("PLANT")
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        message = await js.get_msg("PLANT", seq)
        body = message.data or b""
        found.append((message.subject or "", json.loads(body), (message.headers or {})["Nats-Msg-Id"], body))
    return found


async def test_each_value_is_one_acknowledged_message_on_its_points_subject(
    server: PrivateNats, js: JetStreamContext
) -> None:
    north = make(server.url)
    await north.start()
    try:
        await north.handle_values_json(
            entry(("line 1*temp", "2026-01-01T00:00:00Z", 21.5), ("valve", "2026-01-01T00:00:01Z", "on"))
        )
    finally:
        await north.stop()
        await north.stop()
    messages = await stored(js)
    assert [(subject, body) for subject, body, _, _ in messages] == [
        ("plant.line_1_temp", {"pointId": "line 1*temp", "timestamp": "2026-01-01T00:00:00Z", "data": {"value": 21.5}}),
        ("plant.valve", {"pointId": "valve", "timestamp": "2026-01-01T00:00:01Z", "data": {"value": "on"}}),
    ]
    assert [msg_id for _, _, msg_id, _ in messages] == [message_id(body) for _, _, _, body in messages]
    assert messages[0][2] != messages[1][2]


async def test_an_entry_sent_twice_is_stored_once_and_a_corrected_value_is_stored(
    server: PrivateNats, js: JetStreamContext
) -> None:
    north = make(server.url)
    await north.start()
    try:
        batch = entry(("a", "2026-01-01T00:00:00Z", 1), ("a", "2026-01-01T00:00:01Z", 2))
        await north.handle_values_json(batch)
        await north.handle_values_json(batch)
        await north.handle_values_json(entry(("a", "2026-01-01T00:00:01Z", 3)))
    finally:
        await north.stop()
    assert [body["data"]["value"] for _, body, _, _ in await stored(js)] == [1, 2, 3]


async def test_a_subject_no_stream_takes_fails_the_entry_and_a_lost_server_is_reported_once(
    server: PrivateNats, js: JetStreamContext
) -> None:
    lost: list[str] = []
    reported = asyncio.Event()

    def on_lost(reason: str) -> None:
        lost.append(reason)
        reported.set()

    north = make(server.url, on_lost, subject="elsewhere.{pointId}", stream="")
    await north.start()
    try:
        with pytest.raises(SendError, match="no JetStream stream takes the subjects") as caught:
            await north.handle_values_json(entry(("a", "2026-01-01T00:00:00Z", 1)))
        assert not caught.value.retry_forever
        await asyncio.to_thread(server.stop)
        async with asyncio.timeout(10):
            await reported.wait()
        with pytest.raises(SendError, match="not connected") as caught:
            await north.handle_values_json(entry(("a", "2026-01-01T00:00:00Z", 1)))
        assert caught.value.retry_forever
    finally:
        await north.stop()
    assert lost == [f"connection to NATS {server.url} lost"]


async def test_connection_test_and_start_name_what_is_wrong(server: PrivateNats, js: JetStreamContext) -> None:
    await make(server.url).test_connection()
    with pytest.raises(ConnectorError, match="stream 'MISSING' does not exist"):
        await make(server.url, stream="MISSING").test_connection()
    with pytest.raises(ConnectorNotReady, match=r"cannot connect to NATS nats://127\.0\.0\.1:1"):
        await make("nats://127.0.0.1:1", connectTimeout=500).start()
    with pytest.raises(msgspec.ValidationError, match="subject"):
        msgspec.convert({"subject": "plant.{point}"}, NatsNorthSettings)
    with pytest.raises(msgspec.ValidationError, match=r"authentication\.token is required"):
        msgspec.convert({"authentication": {"type": "token"}}, NatsNorthSettings)


async def test_token_authentication(tmp_path: Path) -> None:
    with private_nats(tmp_path / "auth", "--auth", "s3cret-token") as server:
        with pytest.raises(ConnectorNotReady, match="cannot connect"):
            await make(server.url, authentication={"type": "token", "token": "wrong"}, connectTimeout=1000).start()
        north = make(server.url, authentication={"type": "token", "token": "s3cret-token"})
        await north.start()
        await north.stop()
