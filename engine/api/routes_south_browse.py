"""Browsing a South's source ("explore"): one level of a node's children, a page at a time, run in the worker.

``GET /api/south/{id}/browse?node=&cursor=&pageSize=`` walks with the stored settings (the running South's
session when it is open); ``POST`` with ``{settings, type?, node?, cursor?, pageSize?}`` walks with settings
not saved yet, validated as a connection test's are. The engine only relays the page: the protocol stack and
the session stay in the worker, and no more than one page of one level ever crosses the pipe.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from aiohttp import web

from connectors.errors import SettingsError
from engine.api.keys import STORE
from engine.api.util import json_response, offload, read_json
from engine.api.worker_calls import call_worker
from engine.config.validation import convert

routes = web.RouteTableDef()

PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
BROWSE_TIMEOUT_S = 30.0


class BrowseCommand(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Body of ``POST /api/south/{id}/browse``: settings not saved yet, and where to look."""

    settings: dict[str, Any]
    type: str | None = None
    node: str | None = None
    cursor: str | None = None
    page_size: Annotated[int, msgspec.Meta(ge=1, le=MAX_PAGE_SIZE)] = PAGE_SIZE


class BrowseChild(msgspec.Struct, frozen=True, rename="camel"):
    """One child node."""

    node_id: str
    browse_name: str
    display_name: str
    node_class: str
    has_children: bool


class BrowsePage(msgspec.Struct, frozen=True, rename="camel"):
    """One page of a node's children; ``cursor`` asks for the next one, null after the last."""

    node_id: str
    children: list[BrowseChild]
    cursor: str | None


def _page_size(request: web.Request) -> int:
    raw = request.query.get("pageSize", "")
    if raw == "":
        return PAGE_SIZE
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw[:5]) <= MAX_PAGE_SIZE):
        raise SettingsError({"pageSize": f"expected an integer from 1 to {MAX_PAGE_SIZE}, got {raw[:40]!r}"})
    return int(raw)


async def _browse(request: web.Request, params: dict[str, Any]) -> web.Response:
    page = await call_worker(
        request,
        "south",
        request.match_info["id"],
        "browse",
        params,
        why="browsing runs in the connector's worker",
        timeout_s=BROWSE_TIMEOUT_S,
    )
    # Decoded into the answer's shape: a worker's page is checked before it is served.
    return json_response(msgspec.convert(page, BrowsePage))


@routes.get("/api/south/{id}/browse")
async def browse_stored(request: web.Request) -> web.Response:
    """One page of the children of ``node`` (default: the Objects folder), from ``cursor``."""
    store, south_id = request.app[STORE], request.match_info["id"]
    await offload(store.connectors.connector_type, "south", south_id)  # 404 for an unknown South
    size = _page_size(request)
    params = {"node": request.query.get("node") or None, "cursor": request.query.get("cursor") or None, "size": size}
    return await _browse(request, params)


@routes.post("/api/south/{id}/browse")
async def browse_candidate(request: web.Request) -> web.Response:
    """The same with settings not saved yet (an empty secret meaning the stored one)."""
    store, south_id = request.app[STORE], request.match_info["id"]
    command = convert(await read_json(request), BrowseCommand)
    settings = await offload(
        store.connectors.candidate_settings, "south", south_id, command.settings, type_name=command.type
    )
    params = {"node": command.node, "cursor": command.cursor, "size": command.page_size, "settings": settings}
    return await _browse(request, params)
