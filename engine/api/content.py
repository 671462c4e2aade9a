"""Data ingestion: ``POST /api/content/file`` and ``POST /api/content/content`` (3.8+ paths).

Both answer 204 only once every target North stored the content durably; a client may forget its data
then, not before. A refusal answers 503 with the reasons, so the client sends again (duplicates are
possible in the Norths that had stored it; loss is not).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from datetime import datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import unquote

import msgspec
from aiohttp import BodyPartReader, MultipartReader, web

from engine.api.errors import InvalidRequest
from engine.api.keys import INFO, RUNTIME
from engine.api.util import MALFORMED_MULTIPART
from engine.cache.space import NO_SPACE, is_no_space, no_space_reason
from engine.config.errors import NotFoundError, SettingsError
from engine.errors import TryAgainLater
from engine.filenames import safe_filename
from engine.paths import api_tmp_dir
from engine.runtime import IngestResult, Runtime

routes = web.RouteTableDef()

CHUNK = 256 * 1024


class TimeValueData(msgspec.Struct):
    """``data`` of a time-value: a ``value`` is required; other keys (quality...) pass through."""

    value: str | int | float | bool | None


class TimeValue(msgspec.Struct):
    """One posted time-value, for validation only: the client's JSON is forwarded byte for byte."""

    pointId: Annotated[str, msgspec.Meta(min_length=1)]
    timestamp: Annotated[datetime, msgspec.Meta(tz=True)]
    data: TimeValueData


class _Envelope(msgspec.Struct):
    """A body ``{"type": "time-values", "content": [...]}``; any other JSON is any-content."""

    type: str | None = None
    content: msgspec.Raw = msgspec.Raw(b"")


_ENVELOPE = msgspec.json.Decoder(_Envelope)
_VALUES = msgspec.json.Decoder(list[TimeValue])
_AT = re.compile(r" - at `\$(.*)`$")


def _north_ids(request: web.Request) -> list[str] | None:
    ids = [part for value in request.query.getall("northId", []) for part in value.split(",") if part]
    return ids or None


def _data_source(request: web.Request) -> str:
    value = request.query.get("dataSourceId") or request.query.get("name")
    if not value:
        raise SettingsError({"dataSourceId": "required query parameter is missing"})
    return value


def answer(
    result: IngestResult,
    data_source_id: str,
    *,
    ok_status: int = 204,
    failure_status: int | None = None,
    north_ids: list[str] | None = None,
) -> web.Response:
    """The answer to an ingestion: ``ok_status`` once stored everywhere; otherwise raise.

    A North that could not store the content gives 503 (``Retry-After``); no North, running or stopped, taking
    it gives 404 (nothing was stored: the client keeps its data). ``failure_status`` replaces both for
    clients that retry only on some statuses (v2 senders: 400 and 500). With ``northId`` (``north_ids``),
    ids naming no North are skipped as upstream does, but when none of them names one the answer is that
    404, where upstream answers 204 and drops the content.
    """
    if result.refused:
        reasons = "; ".join(f"{north}: {reason}" for north, reason in result.refused.items())
        if any(NO_SPACE in reason for reason in result.refused.values()):
            # 507 Insufficient Storage: not stored for want of space, the client keeps it and sends it again.
            raise TryAgainLater(f"{NO_SPACE}: send it again later ({reasons})", status=failure_status or 507)
        message = f"content not stored everywhere, send it again ({reasons})"
        raise TryAgainLater(message, status=failure_status or 503)
    if not result.stored and not result.ignored:
        taker = (
            f"the Norths named by northId ({', '.join(north_ids)}) do not exist here or do not take this content"
            if north_ids
            else f"no North connector takes content from data source {data_source_id!r}"
        )
        message = f"nothing stored: {taker} (keep it and send it again once one does)"
        if failure_status is not None:
            raise TryAgainLater(message, status=failure_status)
        raise NotFoundError(message)
    return web.Response(status=ok_status)


def validate_values(content: bytes, where: str = "content") -> int:
    """Check a posted array of time-values (the body's ``where`` field); return its length.

    Raises ``SettingsError`` naming the bad field (``content[3].timestamp``). Decoding into typed structs
    validates in C (timestamps parsed as time-zone aware instants) without building what we would throw away.
    """
    try:
        return len(_VALUES.decode(content))
    except msgspec.ValidationError as err:
        raise validation_error(err, where) from err
    except (msgspec.DecodeError, RecursionError) as err:
        raise InvalidRequest(f"Invalid JSON payload: {err}") from err


def validation_error(err: msgspec.ValidationError, where: str) -> SettingsError:
    """The ``SettingsError`` naming the bad field of a body whose part ``where`` failed to decode."""
    message = str(err)
    found = _AT.search(message)
    path = (f"{where}{found.group(1)}" if found else where).lstrip(".") or "body"
    return SettingsError({path: _AT.sub("", message)})


@routes.post("/api/content/content")
async def post_content(request: web.Request) -> web.Response:
    """``{"type": "time-values", "content": [...]}`` is routed as time-values; other JSON as any-content."""
    data_source_id = _data_source(request)
    runtime = request.app[RUNTIME]
    body = await request.read()
    try:
        envelope: _Envelope | None = _ENVELOPE.decode(body)
    except msgspec.ValidationError:
        envelope = None  # valid JSON, but not an object of that shape: any-content
    except (msgspec.DecodeError, RecursionError) as err:
        # RecursionError: JSON nested deeper than msgspec decodes, refused like malformed JSON.
        raise InvalidRequest(f"Invalid JSON payload: {err}") from err
    if envelope is not None and envelope.type == "time-values":
        if not envelope.content:
            raise SettingsError({"content": "required field is missing"})
        values = bytes(envelope.content)
        count = validate_values(values)
        result = await runtime.ingest_values(
            values, count, data_source_id=data_source_id, north_ids=_north_ids(request)
        )
    else:
        result = await runtime.ingest_content(body, data_source_id=data_source_id, north_ids=_north_ids(request))
    return answer(result, data_source_id, north_ids=_north_ids(request))


@routes.post("/api/content/file")
async def post_file(request: web.Request) -> web.Response:
    """Multipart field ``file``: saved to a private scratch file, routed, then removed."""
    data_source_id = _data_source(request)
    north_ids = _north_ids(request)
    return answer(await receive_file(request, data_source_id, north_ids), data_source_id, north_ids=north_ids)


async def receive_file(request: web.Request, data_source_id: str, north_ids: list[str] | None) -> IngestResult:
    """Route the multipart field ``file`` of ``request``, saved to a private scratch file removed afterwards."""
    runtime = request.app[RUNTIME]
    tmp_dir = api_tmp_dir(request.app[INFO].data_directory)
    if not request.content_type.startswith("multipart/"):
        raise SettingsError({"file": "expected a multipart/form-data body with a 'file' field"})
    try:
        reader = await request.multipart()
        part = await _file_part(reader)
    except MALFORMED_MULTIPART as err:
        raise SettingsError({"file": f"unreadable multipart body: {err}"}) from err
    if part is None:
        raise SettingsError({"file": "multipart field 'file' is missing"})
    # Keep only a safe base name (clients may percent-encode it): a name never chooses where we write.
    filename = safe_filename(unquote(part.filename or "file"))
    # Never the client's name on disk: two uploads of data.csv at once must not collide.
    scratch = tmp_dir / f"{secrets.token_hex(8)}-{filename}"
    try:
        return await _save_and_route(reader, part, scratch, runtime, filename, data_source_id, north_ids)
    except OSError as err:
        if is_no_space(err):
            raise TryAgainLater(f"{no_space_reason(tmp_dir)}: send it again later", status=507) from err
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(scratch)


async def _save_and_route(
    reader: MultipartReader,
    part: BodyPartReader,
    scratch: Path,
    runtime: Runtime,
    filename: str,
    data_source_id: str,
    north_ids: list[str] | None,
) -> IngestResult:
    scratch.parent.mkdir(parents=True, exist_ok=True)
    with scratch.open("wb") as out:
        try:
            while chunk := await part.read_chunk(CHUNK):
                out.write(chunk)
            # aiohttp ends a part quietly when the body stops before its boundary: a file cut short would
            # be routed as if whole. Its boundary, and the closing one, must be there.
            complete = part.at_eof()
            while complete and await reader.next() is not None:
                pass
        except MALFORMED_MULTIPART:
            complete = False
        if not complete:
            raise SettingsError({"file": "the multipart body ended before the file did (truncated upload)"})
    return await runtime.ingest_file(scratch, filename, data_source_id=data_source_id, north_ids=north_ids)


async def _file_part(reader: MultipartReader) -> BodyPartReader | None:
    """The multipart field ``file`` read by ``reader``, or ``None`` when the body has none."""
    part = await reader.next()
    while part is not None and (not isinstance(part, BodyPartReader) or part.name != "file"):
        part = await reader.next()
    return part if isinstance(part, BodyPartReader) else None
