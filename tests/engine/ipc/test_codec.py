"""Round trips and golden frames for every IPC message."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from engine.ipc import (
    Ack,
    ConnectorState,
    Content,
    Hello,
    Log,
    Message,
    Metrics,
    Nack,
    ProtocolError,
    Reconfigure,
    Refused,
    Reply,
    Request,
    Start,
    Stop,
    Stored,
    Trigger,
    decode,
    encode,
    read_message,
)
from engine.ipc.messages import MESSAGE_TYPES

FRAMES = Path(__file__).parent / "frames"

SAMPLES: dict[str, Message] = {
    "hello": Hello(protocol=1, pid=42, role="south"),
    "start": Start(
        role="north",
        connector={"id": "n1", "name": "N", "settings": {"a": 1}},
        data_dir="/d",
        engine_name="OIBus",
        log_level="info",
    ),
    "reconfigure": Reconfigure(connector={"id": "s1"}),
    "stop": Stop(),
    "trigger": Trigger(scan_mode_id="every-second"),
    "content": Content(
        seq=7, source_id="s1", content_type="time-values", payload=b'[{"pointId":"p"}]', count=1, items=["i1"]
    ),
    "stored": Stored(seq=7),
    "refused": Refused(seq=8, reason="cache full"),
    "ack": Ack(seq=7),
    "nack": Nack(seq=8, reason="n1: cache full"),
    "log": Log(level="info", event="connector started", fields={"scopeId": "s1"}),
    "metrics": Metrics(values={"numberOfValuesRetrieved": 3}),
    "connector-state": ConnectorState(
        state="retrying",
        since="2026-01-01T00:00:00.000Z",
        error="connection refused",
        next_attempt="2026-01-01T00:00:02.000Z",
    ),
    "request": Request(id=1, method="ping", params={}),
    "reply": Reply(id=1, ok=True, result="pong"),
}


def test_every_message_type_has_a_sample() -> None:
    assert set(SAMPLES) == set(MESSAGE_TYPES)


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_round_trip(kind: str) -> None:
    message = SAMPLES[kind]
    assert decode(encode(message)) == message


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_golden_frame(kind: str) -> None:
    """The bytes on the wire are stable: a change here breaks workers of another version."""
    golden = FRAMES / f"{kind}.bin"
    if os.environ.get("OIBUS_REGENERATE_FRAMES"):
        golden.write_bytes(encode(SAMPLES[kind]))
    assert encode(SAMPLES[kind]) == golden.read_bytes()
    assert decode(golden.read_bytes()) == SAMPLES[kind]


def test_a_content_of_several_files_round_trips() -> None:
    files = Content(
        seq=9, source_id="s1", content_type="any", files=[["/in/a.csv", "a.csv"], ["/in/b", "sub/b"]], owned=True
    )
    assert decode(encode(files)) == files


def test_bad_frames_raise_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        decode(b"\x00\x00\x00\x01\xc1")  # 0xc1 is never valid msgpack
    with pytest.raises(ProtocolError):
        decode(encode(Ack(seq=1))[:-1])
    with pytest.raises(ProtocolError, match="unknown message kind"):
        decode(b"\x00\x00\x00\x0a" + b"\x81\xa4kind\xa3bad")


async def test_stream_reader_reads_frames_and_detects_truncation() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(encode(Ack(seq=1)) + encode(Stored(seq=2)))
    reader.feed_eof()
    assert await read_message(reader) == Ack(seq=1)
    assert await read_message(reader) == Stored(seq=2)
    assert await read_message(reader) is None
    truncated = asyncio.StreamReader()
    truncated.feed_data(encode(Ack(seq=1))[:5])
    truncated.feed_eof()
    with pytest.raises(ProtocolError):
        await read_message(truncated)
