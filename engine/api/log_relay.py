"""Log relay: ``POST /logs`` and ``POST /api/logs`` take a Loki push from another OIBus and log it here.

An OIBus whose Loki sink points at ``http://<this OIBus>:2223/logs`` (v2 spelling; ``/api/logs`` as 3.0-3.4)
pushes ``{"streams": [{"stream": {labels}, "values": [["<epoch ns>", "<line>"], ...]}]}``. Each line is
logged again here, at the level of its ``level`` label (pino-loki's ``warning``/``critical`` and pino's
names are both understood), dated by its own timestamp, with the sender's labels: ``scopeType`` (one of
upstream's scope types), ``scopeId``, ``scopeName``, ``itemId``... become the record's columns, every other
label (``name``: the sending engine; v2's ``oibus``, ``scope``, ``source``) a ``key=value`` field of its
message. The record then reaches this engine's console, file, database, Loki and syslog sinks according
to their levels, like any other. Lines below every sink's level are dropped at once.

Authentication and the IP filter apply as on the rest of the API.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from aiohttp import web

from engine.api.content import validation_error
from engine.api.errors import InvalidRequest
from engine.api.keys import LOG_PIPELINE
from engine.logs.records import INFO, SCOPE_TYPES, level_number

routes = web.RouteTableDef()

EpochNs = Annotated[str, msgspec.Meta(pattern=r"^[0-9]{1,19}$(?!\n)")]
Line = tuple[EpochNs, str]
_COLUMNS = frozenset({"scopeId", "scopeName", "itemId", "itemName", "groupId", "groupName"})


class LokiStream(msgspec.Struct, frozen=True):
    """One stream of a Loki push: its labels and its ``[timestamp, line]`` values."""

    stream: dict[str, str]
    values: list[Line]


class LokiPush(msgspec.Struct, frozen=True):
    """The body of a Loki push request (JSON form)."""

    streams: list[LokiStream]


_PUSH = msgspec.json.Decoder(LokiPush)


def _fields(labels: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """The level and the record fields of a stream's labels."""
    level = level_number(labels.get("level", "info"), INFO)
    fields: dict[str, Any] = {}
    for key, value in labels.items():
        if key == "level":
            continue
        if key == "scopeType" and value not in SCOPE_TYPES:
            fields["senderScopeType"] = value  # not a scope type of ours: kept visible, not a column
            continue
        fields[key] = value
    return level, fields


def relay(push: LokiPush, pipeline_emit: Any, threshold: int) -> int:
    """Log every line of ``push`` through ``pipeline_emit``; returns how many lines passed ``threshold``."""
    relayed = 0
    for stream in push.streams:
        level, fields = _fields(stream.stream)
        if level < threshold:
            continue
        for timestamp, line in stream.values:
            pipeline_emit(level, "relay", line, dict(fields), int(timestamp))
            relayed += 1
    return relayed


async def _receive(request: web.Request) -> web.Response:
    body = await request.read()
    try:
        push = _PUSH.decode(body)
    except msgspec.ValidationError as err:
        raise validation_error(err, "") from err
    except (msgspec.DecodeError, RecursionError) as err:
        raise InvalidRequest(f"Invalid JSON payload: {err}") from err
    pipeline = request.app[LOG_PIPELINE]
    relay(push, pipeline.emit, pipeline.threshold)
    return web.Response(status=204)


@routes.post("/logs")
async def post_logs_v2(request: web.Request) -> web.Response:
    """A Loki push from another OIBus (v2 path); 204 once queued for this engine's sinks."""
    return await _receive(request)


@routes.post("/api/logs")
async def post_logs(request: web.Request) -> web.Response:
    """A Loki push from another OIBus (3.0-3.4 path); 204 once queued for this engine's sinks."""
    return await _receive(request)
