"""Data ingestion: ``POST /api/content/file`` and ``POST /api/content/content`` (3.8+ paths).

Both answer 204 only once every target North stored the content durably; a client may forget its data
then, not before. A refusal answers 503 with the reasons, so the client sends again (duplicates are
possible in the Norths that had stored it; loss is not).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Annotated, Any

import msgspec
from aiohttp import BodyPartReader, web

from engine.api.errors import InvalidRequest
from engine.api.keys import INFO, RUNTIME
from engine.config.errors import NotFoundError, SettingsError
from engine.paths import api_tmp_dir
from engine.runtime import IngestResult

routes = web.RouteTableDef()

ISO_INSTANT = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})$"
CHUNK = 256 * 1024


class TimeValueIn(msgspec.Struct, frozen=True):
    """One posted time-value (validated, then forwarded as the same JSON)."""

    pointId: Annotated[str, msgspec.Meta(min_length=1)]
    timestamp: Annotated[str, msgspec.Meta(pattern=ISO_INSTANT)]
    data: dict[str, str | int | float | bool | None]


_VALUES = list[TimeValueIn]


def _north_ids(request: web.Request) -> list[str] | None:
    ids = [part for value in request.query.getall("northId", []) for part in value.split(",") if part]
    return ids or None


def _data_source(request: web.Request) -> str:
    value = request.query.get("dataSourceId") or request.query.get("name")
    if not value:
        raise SettingsError({"dataSourceId": "required query parameter is missing"})
    return value


def _answer(result: IngestResult, data_source_id: str) -> web.Response:
    if result.refused:
        reasons = "; ".join(f"{north}: {reason}" for north, reason in result.refused.items())
        raise web.HTTPServiceUnavailable(
            text=msgspec.json.encode({"message": f"content not stored everywhere, send it again ({reasons})"}).decode(),
            content_type="application/json",
            headers={"Retry-After": "5"},
        )
    if not result.stored and not result.ignored:
        raise NotFoundError(f"no running North connector receives content from data source {data_source_id!r}")
    return web.Response(status=204)


def validate_values(content: Any) -> list[Any]:
    """Check a posted ``content`` array of time-values; raise ``SettingsError`` naming each bad field."""
    try:
        msgspec.convert(content, _VALUES)
    except msgspec.ValidationError as err:
        path = str(err).rsplit(" - at `$", 1)
        where = f"content{path[1].rstrip('`')}" if len(path) == 2 else "content"
        raise SettingsError({where: path[0]}) from err
    missing = {
        f"content[{index}].data.value": "required field is missing"
        for index, value in enumerate(content)
        if "value" not in value["data"]
    }
    if missing:
        raise SettingsError(missing)
    return list(content)


@routes.post("/api/content/content")
async def post_content(request: web.Request) -> web.Response:
    """``{"type": "time-values", "content": [...]}`` is routed as time-values; other JSON as any-content."""
    data_source_id = _data_source(request)
    runtime = request.app[RUNTIME]
    body = await request.read()
    try:
        parsed = msgspec.json.decode(body)
    except msgspec.DecodeError as err:
        raise InvalidRequest(f"Invalid JSON payload: {err}") from err
    if isinstance(parsed, dict) and parsed.get("type") == "time-values":
        values = validate_values(parsed.get("content"))
        result = await runtime.ingest_values(
            msgspec.json.encode(values), len(values), data_source_id=data_source_id, north_ids=_north_ids(request)
        )
    else:
        result = await runtime.ingest_content(body, data_source_id=data_source_id, north_ids=_north_ids(request))
    return _answer(result, data_source_id)


@routes.post("/api/content/file")
async def post_file(request: web.Request) -> web.Response:
    """Multipart field ``file``: saved to a private scratch file, routed, then removed."""
    data_source_id = _data_source(request)
    runtime = request.app[RUNTIME]
    tmp_dir = api_tmp_dir(request.app[INFO].data_directory)
    if not request.content_type.startswith("multipart/"):
        raise SettingsError({"file": "expected a multipart/form-data body with a 'file' field"})
    reader = await request.multipart()
    part = await reader.next()
    while part is not None and (not isinstance(part, BodyPartReader) or part.name != "file"):
        part = await reader.next()
    if not isinstance(part, BodyPartReader):
        raise SettingsError({"file": "multipart field 'file' is missing"})
    filename = Path(part.filename or "file").name or "file"
    # Never the client's name on disk: two uploads of data.csv at once must not collide.
    scratch = tmp_dir / f"{secrets.token_hex(8)}-{filename}"
    try:
        with scratch.open("wb") as out:
            while chunk := await part.read_chunk(CHUNK):
                out.write(chunk)
        result = await runtime.ingest_file(
            scratch, filename, data_source_id=data_source_id, north_ids=_north_ids(request)
        )
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(scratch)
    return _answer(result, data_source_id)
