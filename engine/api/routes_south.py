"""South routes: types and manifests, connectors, items (list, search, bulk) and groups.

After each stored change the runtime reconciles the South's worker, and the Norths whose routing rules
name that South when items or groups they may refer to changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Concatenate, ParamSpec, Protocol

from aiohttp import web

from engine.api.connector_routes import ConnectorCalls, changed, connector_routes, reconcile, reconciled
from engine.api.keys import STORE
from engine.api.util import actor, json_response, offload, query_bool, query_int, read_json
from engine.config.store import ConfigStore
from engine.config.validation import convert

P = ParamSpec("P")

# Types, manifests, list, create, read, start and stop; the routes below are the South's own.
routes = connector_routes(
    "south",
    ConnectorCalls(
        list_all=ConfigStore.list_souths,
        create=ConfigStore.create_south,
        read=ConfigStore.south_dto,
        set_enabled=ConfigStore.set_south_enabled,
    ),
)


def _south_id(request: web.Request) -> str:
    return request.match_info["id"]


async def _item_ids(request: web.Request) -> list[str]:
    return convert(await read_json(request), list[str])


class _CreateIn(Protocol):
    def __call__(self, south_id: str, body: Any, /, *, actor: str) -> object: ...


async def _created(request: web.Request, create: _CreateIn) -> web.Response:
    """Add an item or a group of this South from the body, then reconcile the South; 201 with it."""
    body = await read_json(request)
    created = await offload(create, _south_id(request), body, actor=actor(request))
    await reconcile(request, "south", _south_id(request))
    return json_response(created, status=201)


async def _routing_changed(
    request: web.Request, change: Callable[Concatenate[str, P], Iterable[str]], *args: P.args, **kwargs: P.kwargs
) -> web.Response:
    """Apply a change that returns the Norths routing from this South, then reconcile the South and them; 204."""
    norths = await offload(change, _south_id(request), *args, **kwargs)
    return await reconciled(request, "south", norths)


@routes.put("/api/south/{id}")
async def update_south(request: web.Request) -> web.Response:
    """Replace a South (``items``/``groups`` given are complete sets; left out, they stay)."""
    body = await read_json(request)
    return await _routing_changed(request, request.app[STORE].update_south, body, actor=actor(request))


@routes.delete("/api/south/{id}")
async def delete_south(request: web.Request) -> web.Response:
    """Delete a South with its items and groups (its worker stops)."""
    return await _routing_changed(request, request.app[STORE].delete_south)


# --- Items (fixed paths before ``{itemId}``) ------------------------------------------------------------


@routes.get("/api/south/{id}/items/list")
async def list_items(request: web.Request) -> web.Response:
    """Every item of a South."""
    return json_response(await offload(request.app[STORE].list_items, _south_id(request)))


@routes.get("/api/south/{id}/items/search")
async def search_items(request: web.Request) -> web.Response:
    """A page of 50 items filtered by ``name`` (contains), ``scanModeId`` and ``enabled``."""
    page = await offload(
        request.app[STORE].search_items,
        _south_id(request),
        name=request.query.get("name") or None,
        scan_mode_id=request.query.get("scanModeId") or None,
        enabled=query_bool(request, "enabled"),
        page=query_int(request, "page", 0),
    )
    return json_response(page)


@routes.post("/api/south/{id}/items/enable")
async def enable_items(request: web.Request) -> web.Response:
    """Enable the items whose ids the body lists."""
    ids = await _item_ids(request)
    return await changed(request, "south", request.app[STORE].set_items_enabled, ids, True, actor=actor(request))


@routes.post("/api/south/{id}/items/disable")
async def disable_items(request: web.Request) -> web.Response:
    """Disable the items whose ids the body lists."""
    ids = await _item_ids(request)
    return await changed(request, "south", request.app[STORE].set_items_enabled, ids, False, actor=actor(request))


@routes.post("/api/south/{id}/items/delete")
async def delete_some_items(request: web.Request) -> web.Response:
    """Delete the items whose ids the body lists."""
    ids = await _item_ids(request)
    return await _routing_changed(request, request.app[STORE].delete_items, ids)


@routes.post("/api/south/{id}/items")
async def create_item(request: web.Request) -> web.Response:
    """Add one item; 201 with it."""
    return await _created(request, request.app[STORE].create_item)


@routes.delete("/api/south/{id}/items")
async def delete_all_items(request: web.Request) -> web.Response:
    """Delete every item of a South."""
    return await _routing_changed(request, request.app[STORE].delete_all_items)


@routes.get("/api/south/{id}/items/{itemId}")
async def get_item(request: web.Request) -> web.Response:
    """One item (secrets blank)."""
    return json_response(await offload(request.app[STORE].get_item, _south_id(request), request.match_info["itemId"]))


@routes.put("/api/south/{id}/items/{itemId}")
async def update_item(request: web.Request) -> web.Response:
    """Replace one item (an empty secret keeps the stored one)."""
    body = await read_json(request)
    store, south_id = request.app[STORE], _south_id(request)
    await offload(store.update_item, south_id, request.match_info["itemId"], body, actor=actor(request))
    return await reconciled(request, "south", await offload(store.routing_norths, south_id))


@routes.delete("/api/south/{id}/items/{itemId}")
async def delete_item(request: web.Request) -> web.Response:
    """Delete one item."""
    store, item_id = request.app[STORE], request.match_info["itemId"]
    await offload(store.get_item, _south_id(request), item_id)  # 404 for an unknown item, not a 400
    return await _routing_changed(request, store.delete_items, [item_id])


@routes.post("/api/south/{id}/items/{itemId}/enable")
async def enable_item(request: web.Request) -> web.Response:
    """Enable one item."""
    return await _set_item_enabled(request, True)


@routes.post("/api/south/{id}/items/{itemId}/disable")
async def disable_item(request: web.Request) -> web.Response:
    """Disable one item."""
    return await _set_item_enabled(request, False)


async def _set_item_enabled(request: web.Request, enabled: bool) -> web.Response:
    store, item_id = request.app[STORE], request.match_info["itemId"]
    await offload(store.get_item, _south_id(request), item_id)  # 404 for an unknown item, not a 400
    return await changed(request, "south", store.set_items_enabled, [item_id], enabled, actor=actor(request))


# --- Groups -------------------------------------------------------------------------------------------


@routes.get("/api/south/{id}/groups")
async def list_groups(request: web.Request) -> web.Response:
    """The groups of a South."""
    return json_response(await offload(request.app[STORE].list_groups, _south_id(request)))


@routes.post("/api/south/{id}/groups")
async def create_group(request: web.Request) -> web.Response:
    """Add a group; 201 with it."""
    return await _created(request, request.app[STORE].create_group)


@routes.get("/api/south/{id}/groups/{groupId}")
async def get_group(request: web.Request) -> web.Response:
    """One group."""
    return json_response(await offload(request.app[STORE].get_group, _south_id(request), request.match_info["groupId"]))


@routes.put("/api/south/{id}/groups/{groupId}")
async def update_group(request: web.Request) -> web.Response:
    """Replace a group (its items follow its scan mode)."""
    body = await read_json(request)
    group_id = request.match_info["groupId"]
    return await changed(request, "south", request.app[STORE].update_group, group_id, body, actor=actor(request))


@routes.delete("/api/south/{id}/groups/{groupId}")
async def delete_group(request: web.Request) -> web.Response:
    """Delete a group (its items stay, ungrouped)."""
    return await _routing_changed(request, request.app[STORE].delete_group, request.match_info["groupId"])
