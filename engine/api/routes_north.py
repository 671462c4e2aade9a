"""North routes: types and manifests, connectors, their routing rules (``transformers``), tests and cache.

The cache routes (upstream's ``/cache/search``, ``/cache/content/{filename}``, ``/cache/update``) act on the
North's disk cache through its worker, which owns it; for a North without a worker (disabled) the engine
opens the cache folder itself, and no worker starts until it is done. They answer 409 only while an enabled
North's worker is not connected (starting, or backing off after a crash).
"""

from __future__ import annotations

import mimetypes
from datetime import UTC, datetime
from typing import Any

import msgspec
from aiohttp import web
from aiohttp.helpers import content_disposition_header

from engine.api.connector_routes import ConnectorCalls, changed, connector_routes
from engine.api.errors import InvalidRequest
from engine.api.keys import STORE
from engine.api.util import actor, json_response, no_content, offload, query_int, read_json
from engine.api.worker_calls import call_worker, test_connection
from engine.cache.north.operations import CacheContentUpdateCommand
from engine.cache.north.types import FOLDERS, format_instant
from engine.config.errors import NotFoundError
from engine.config.validation import convert
from engine.errors import TryAgainLater

CACHE_TIMEOUT_S = 60.0
"""How long a cache operation may take in the worker (a search reads every metadata file of error/archive)."""

PREVIEW_BYTES = 2 * 1024 * 1024
"""``/cache/content`` answers at most this many bytes of an entry (a preview, as upstream)."""

DEFAULT_MAX_FILES = 1000
"""Entries per folder a search answers when ``maxNumberOfFilesReturned`` is not given (0 = no limit)."""

_CACHE_WHY = "its cache is managed by its worker, which is not connected"

# Types, manifests, list, create, read, start and stop; the routes below are the North's own.
routes = connector_routes(
    "north",
    ConnectorCalls(
        list_all=lambda store: store.norths.list_norths(),
        create=lambda store, body, *, actor: store.norths.create_north(body, actor=actor),
        read=lambda store, north_id: store.norths.north_dto(north_id),
        set_enabled=lambda store, north_id, enabled, *, actor: store.norths.set_north_enabled(
            north_id, enabled, actor=actor
        ),
    ),
)


@routes.put("/api/north/{id}")
async def update_north(request: web.Request) -> web.Response:
    """Replace a North (``transformers`` left out: rules kept)."""
    body = await read_json(request)
    return await changed(request, "north", request.app[STORE].norths.update_north, body, actor=actor(request))


@routes.delete("/api/north/{id}")
async def delete_north(request: web.Request) -> web.Response:
    """Delete a North (its worker stops; its cache folder stays until cleaned)."""
    return await changed(request, "north", request.app[STORE].norths.delete_north)


@routes.post("/api/north/{id}/transformers")
async def save_transformer(request: web.Request) -> web.Response:
    """Add a routing rule, or replace the one whose ``id`` the body names."""
    body = await read_json(request)
    return await changed(
        request, "north", request.app[STORE].norths.upsert_north_transformer, body, actor=actor(request)
    )


@routes.delete("/api/north/{id}/transformers/{tid}")
async def delete_transformer(request: web.Request) -> web.Response:
    """Delete a routing rule."""
    return await changed(
        request, "north", request.app[STORE].norths.delete_north_transformer, request.match_info["tid"]
    )


@routes.post("/api/north/{id}/test/connection")
async def test_north_connection(request: web.Request) -> web.Response:
    """Test the North's connection, with the body's settings if any (see ``worker_calls.test_connection``)."""
    return await test_connection(request, "north")


def instant_query(request: web.Request, name: str) -> str | None:
    """An optional ISO-8601 query parameter (no offset: UTC), in the ``createdAt`` format so it compares as text."""
    value = request.query.get(name)
    if not value:
        return None
    try:
        instant = datetime.fromisoformat(value)
        return format_instant(instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC))
    except (ValueError, OverflowError):  # Overflow: year 1 or 9999 moved out of range by its offset.
        raise InvalidRequest(f"Query parameter {name} must be an ISO-8601 instant, got {value!r}") from None


async def _require_north(request: web.Request) -> str:
    north_id = request.match_info["id"]
    await offload(request.app[STORE].connectors.connector_type, "north", north_id)  # 404 for an unknown North
    return north_id


@routes.get("/api/north/{id}/cache/search")
async def search_cache(request: web.Request) -> web.Response:
    """Entries of cache, error and archive: ``{"cache": [...], "error": [...], "archive": [...]}``.

    Each entry is ``{filename, contentFile, contentSize, numberOfElement, createdAt, contentType}``
    (``filename``: the entry's name on disk). Query: ``nameContains`` (either name, any case), ``start`` and
    ``end`` (on ``createdAt``, ``start <= t < end``), ``maxNumberOfFilesReturned`` (per folder, 0 = all;
    default 1000). Oldest first.
    """
    north_id = await _require_north(request)
    params: dict[str, Any] = {
        "nameContains": request.query.get("nameContains") or None,
        "start": instant_query(request, "start"),
        "end": instant_query(request, "end"),
        "maxNumberOfFilesReturned": query_int(request, "maxNumberOfFilesReturned", DEFAULT_MAX_FILES),
    }
    found = await call_worker(
        request,
        "north",
        north_id,
        "cache_search",
        params,
        why=_CACHE_WHY,
        timeout_s=CACHE_TIMEOUT_S,
        failure=TryAgainLater,
        cache=True,
    )
    return json_response(found)


@routes.get("/api/north/{id}/cache/content/{filename}")
async def get_cache_content(request: web.Request) -> web.StreamResponse:
    """The content of one entry of ``?folder=cache|error|archive`` (default ``cache``); 404 if there is none.

    The body is the content itself (its first 2 MiB), typed from the logical file name (``data.csv`` →
    ``text/csv``). Headers: ``Content-Disposition`` with the logical name, ``X-Content-Size`` (whole size)
    and ``X-Content-Truncated`` (``true`` when only the beginning is shown).
    """
    north_id = await _require_north(request)
    folder = request.query.get("folder") or "cache"
    if folder not in FOLDERS:
        raise InvalidRequest(f"Query parameter folder must be cache, error or archive, got {folder!r}")
    filename = request.match_info["filename"]
    params = {"folder": folder, "filename": filename, "maxBytes": PREVIEW_BYTES}
    found = await call_worker(
        request,
        "north",
        north_id,
        "cache_content",
        params,
        why=_CACHE_WHY,
        timeout_s=CACHE_TIMEOUT_S,
        failure=TryAgainLater,
        cache=True,
    )
    if found is None:
        raise NotFoundError(f"No entry {filename} in the {folder} folder of North {north_id}")
    logical = str(found["contentFile"])
    content_type = mimetypes.guess_type(logical)[0] or "application/octet-stream"
    return web.Response(
        body=found["content"],
        content_type=content_type,
        headers={
            "Content-Disposition": content_disposition_header("inline", filename=logical),
            "X-Content-Size": str(found["contentSize"]),
            "X-Content-Truncated": "true" if found["truncated"] else "false",
        },
    )


@routes.post("/api/north/{id}/cache/update")
async def update_cache(request: web.Request) -> web.Response:
    """Remove and move entries: ``{"cache"|"error"|"archive": {"remove": [name], "move": [{filename, to}]}}``.

    Removals run first, then moves (upstream's order); unknown names are skipped. Moving into ``cache``
    queues an entry again (to retry an errored one). 204.
    """
    north_id = await _require_north(request)
    command = convert(await read_json(request), CacheContentUpdateCommand)
    await call_worker(
        request,
        "north",
        north_id,
        "cache_update",
        msgspec.to_builtins(command),
        why=_CACHE_WHY,
        timeout_s=CACHE_TIMEOUT_S,
        failure=TryAgainLater,
        cache=True,
    )
    return no_content()
