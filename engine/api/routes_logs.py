"""Log routes: search ``logs/logs.db`` and suggest the scopes, items and groups that have logs (upstream paths).

List parameters (``levels``, ``scopeIds``, ``scopeTypes``, ``itemIds``, ``groupIds``) may be repeated or
comma separated. ``start``/``end`` are ISO-8601 instants (no zone means UTC) and default to the last 24
hours; pages hold 50 logs, newest first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from aiohttp import web

from engine.api.errors import InvalidRequest
from engine.api.keys import LOGS
from engine.api.util import json_response, offload, query_int
from engine.config.errors import NotFoundError
from engine.logs.database import LogQuery
from engine.logs.records import LOG_LEVELS, SCOPE_TYPES

routes = web.RouteTableDef()


def _instant(request: web.Request, name: str, default: datetime) -> str:
    """An instant query parameter in the stored format (``2026-01-01T00:00:00.000Z``)."""
    raw = request.query.get(name)
    moment = default
    if raw:
        try:
            moment = datetime.fromisoformat(raw.strip())
        except ValueError as err:
            raise InvalidRequest(f"Query parameter {name} must be an ISO 8601 instant, got {raw!r}") from err
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _values(request: web.Request, name: str, allowed: Sequence[str] | None = None) -> tuple[str, ...]:
    """A list query parameter: repeated (``?levels=info&levels=warn``) or comma separated (``?levels=info,warn``)."""
    values = tuple(
        value for raw in request.query.getall(name, ()) for value in (part.strip() for part in raw.split(",")) if value
    )
    if allowed is not None:
        unknown = [value for value in values if value not in allowed]
        if unknown:
            raise InvalidRequest(f"Query parameter {name} must be among {', '.join(allowed)}, got {unknown[0]!r}")
    return values


@routes.get("/api/logs")
async def search_logs(request: web.Request) -> web.Response:
    """A page of logs: ``{content, size, number, totalElements, totalPages}``."""
    now = datetime.now(UTC)
    query = LogQuery(
        start=_instant(request, "start", now - timedelta(days=1)),
        end=_instant(request, "end", now),
        levels=_values(request, "levels", LOG_LEVELS),
        scope_ids=_values(request, "scopeIds"),
        scope_types=_values(request, "scopeTypes", SCOPE_TYPES),
        item_ids=_values(request, "itemIds"),
        group_ids=_values(request, "groupIds"),
        message_content=request.query.get("messageContent") or None,
        page=query_int(request, "page", 0),
    )
    return json_response(await offload(request.app[LOGS].search, query))


@routes.get("/api/logs/scopes/suggest")
async def suggest_scopes(request: web.Request) -> web.Response:
    """Scopes whose name contains ``name``: ``[{scopeId, scopeName}]``."""
    return json_response(await offload(request.app[LOGS].suggest_scopes, request.query.get("name", "")))


@routes.get("/api/logs/scopes/{id}")
async def get_scope(request: web.Request) -> web.Response:
    """``{scopeId, scopeName}``; 404 when no log has this scope."""
    scope_id = request.match_info["id"]
    scope = await offload(request.app[LOGS].get_scope, scope_id)
    if scope is None:
        raise NotFoundError(f"Scope {scope_id} not found")
    return json_response(scope)


@routes.get("/api/logs/items/suggest")
async def suggest_items(request: web.Request) -> web.Response:
    """Items whose name contains ``name``, of scope ``scopeId`` if given: ``[{itemId, itemName}]``."""
    store = request.app[LOGS]
    name, scope_id = request.query.get("name", ""), request.query.get("scopeId") or None
    return json_response(await offload(store.suggest_items, name, scope_id))


@routes.get("/api/logs/items/{id}")
async def get_item(request: web.Request) -> web.Response:
    """``{itemId, itemName}``; 404 when no log has this item."""
    item_id = request.match_info["id"]
    item = await offload(request.app[LOGS].get_item, item_id)
    if item is None:
        raise NotFoundError(f"Item {item_id} not found")
    return json_response(item)


@routes.get("/api/logs/groups/suggest")
async def suggest_groups(request: web.Request) -> web.Response:
    """Groups whose name contains ``name``, of scope ``scopeId`` if given: ``[{groupId, groupName}]``."""
    store = request.app[LOGS]
    name, scope_id = request.query.get("name", ""), request.query.get("scopeId") or None
    return json_response(await offload(store.suggest_groups, name, scope_id))


@routes.get("/api/logs/groups/{id}")
async def get_group(request: web.Request) -> web.Response:
    """``{groupId, groupName}``; 404 when no log has this group."""
    group_id = request.match_info["id"]
    group = await offload(request.app[LOGS].get_group, group_id)
    if group is None:
        raise NotFoundError(f"Group {group_id} not found")
    return json_response(group)
