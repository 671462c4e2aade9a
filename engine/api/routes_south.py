"""South routes: types and manifests, connectors, items (list, search, bulk) and groups.

After each stored change the runtime reconciles the South's worker, and the Norths whose routing rules
name that South when items or groups they may refer to changed.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec
from aiohttp import web

from engine.api.keys import RUNTIME, STORE
from engine.api.util import actor, json_response, no_content, offload, query_bool, query_int, read_json
from engine.config.validation import convert

routes = web.RouteTableDef()


async def _reconcile(request: web.Request, south_id: str, norths: Iterable[str] = ()) -> None:
    runtime = request.app[RUNTIME]
    await runtime.reconcile_south(south_id)
    for north_id in norths:
        await runtime.reconcile_north(north_id)


def _south_id(request: web.Request) -> str:
    return request.match_info["id"]


async def _item_ids(request: web.Request) -> list[str]:
    return convert(await read_json(request), list[str])


@routes.get("/api/south/types")
async def list_types(request: web.Request) -> web.Response:
    """Every available South type (id, name, category, description, modes)."""
    return json_response(await offload(request.app[STORE].connector_types, "south"))


@routes.get("/api/south/manifests/{type}")
async def get_manifest(request: web.Request) -> web.Response:
    """The manifest of a South type (settings and item settings JSON Schemas)."""
    return json_response(await offload(request.app[STORE].connector_manifest, "south", request.match_info["type"]))


@routes.get("/api/south")
async def list_souths(request: web.Request) -> web.Response:
    """Every South (light form) with its worker state."""
    runtime = request.app[RUNTIME]
    souths = await offload(request.app[STORE].list_souths)
    return json_response(
        [msgspec.structs.replace(south, state=runtime.connector_state("south", south.id)) for south in souths]
    )


@routes.post("/api/south")
async def create_south(request: web.Request) -> web.Response:
    """Create a South with its groups and items; 201 with it."""
    body = await read_json(request)
    south = await offload(request.app[STORE].create_south, body, actor=actor(request))
    await _reconcile(request, south.id)
    state = request.app[RUNTIME].connector_state("south", south.id)
    return json_response(msgspec.structs.replace(south, state=state), status=201)


@routes.get("/api/south/{id}")
async def get_south(request: web.Request) -> web.Response:
    """One South with groups, items (secrets blank) and its worker state."""
    south = await offload(request.app[STORE].south_dto, _south_id(request))
    state = request.app[RUNTIME].connector_state("south", south.id)
    return json_response(msgspec.structs.replace(south, state=state))


@routes.put("/api/south/{id}")
async def update_south(request: web.Request) -> web.Response:
    """Replace a South (``items``/``groups`` given are complete sets; left out, they stay)."""
    body = await read_json(request)
    norths = await offload(request.app[STORE].update_south, _south_id(request), body, actor=actor(request))
    await _reconcile(request, _south_id(request), norths)
    return no_content()


@routes.delete("/api/south/{id}")
async def delete_south(request: web.Request) -> web.Response:
    """Delete a South with its items and groups (its worker stops)."""
    norths = await offload(request.app[STORE].delete_south, _south_id(request))
    await _reconcile(request, _south_id(request), norths)
    return no_content()


@routes.post("/api/south/{id}/start")
async def start_south(request: web.Request) -> web.Response:
    """Enable a South and start its worker."""
    await offload(request.app[STORE].set_south_enabled, _south_id(request), True, actor=actor(request))
    await _reconcile(request, _south_id(request))
    return no_content()


@routes.post("/api/south/{id}/stop")
async def stop_south(request: web.Request) -> web.Response:
    """Disable a South and stop its worker."""
    await offload(request.app[STORE].set_south_enabled, _south_id(request), False, actor=actor(request))
    await _reconcile(request, _south_id(request))
    return no_content()


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
    await offload(request.app[STORE].set_items_enabled, _south_id(request), ids, True, actor=actor(request))
    await _reconcile(request, _south_id(request))
    return no_content()


@routes.post("/api/south/{id}/items/disable")
async def disable_items(request: web.Request) -> web.Response:
    """Disable the items whose ids the body lists."""
    ids = await _item_ids(request)
    await offload(request.app[STORE].set_items_enabled, _south_id(request), ids, False, actor=actor(request))
    await _reconcile(request, _south_id(request))
    return no_content()


@routes.post("/api/south/{id}/items/delete")
async def delete_some_items(request: web.Request) -> web.Response:
    """Delete the items whose ids the body lists."""
    ids = await _item_ids(request)
    norths = await offload(request.app[STORE].delete_items, _south_id(request), ids)
    await _reconcile(request, _south_id(request), norths)
    return no_content()


@routes.post("/api/south/{id}/items")
async def create_item(request: web.Request) -> web.Response:
    """Add one item; 201 with it."""
    body = await read_json(request)
    item = await offload(request.app[STORE].create_item, _south_id(request), body, actor=actor(request))
    await _reconcile(request, _south_id(request))
    return json_response(item, status=201)


@routes.delete("/api/south/{id}/items")
async def delete_all_items(request: web.Request) -> web.Response:
    """Delete every item of a South."""
    norths = await offload(request.app[STORE].delete_all_items, _south_id(request))
    await _reconcile(request, _south_id(request), norths)
    return no_content()


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
    await _reconcile(request, south_id, await offload(store.routing_norths, south_id))
    return no_content()


@routes.delete("/api/south/{id}/items/{itemId}")
async def delete_item(request: web.Request) -> web.Response:
    """Delete one item."""
    store, south_id, item_id = request.app[STORE], _south_id(request), request.match_info["itemId"]
    await offload(store.get_item, south_id, item_id)  # 404 for an unknown item, not a 400
    norths = await offload(store.delete_items, south_id, [item_id])
    await _reconcile(request, south_id, norths)
    return no_content()


@routes.post("/api/south/{id}/items/{itemId}/enable")
async def enable_item(request: web.Request) -> web.Response:
    """Enable one item."""
    return await _set_item_enabled(request, True)


@routes.post("/api/south/{id}/items/{itemId}/disable")
async def disable_item(request: web.Request) -> web.Response:
    """Disable one item."""
    return await _set_item_enabled(request, False)


async def _set_item_enabled(request: web.Request, enabled: bool) -> web.Response:
    store, south_id, item_id = request.app[STORE], _south_id(request), request.match_info["itemId"]
    await offload(store.get_item, south_id, item_id)  # 404 for an unknown item, not a 400
    await offload(store.set_items_enabled, south_id, [item_id], enabled, actor=actor(request))
    await _reconcile(request, south_id)
    return no_content()


# --- Groups -------------------------------------------------------------------------------------------


@routes.get("/api/south/{id}/groups")
async def list_groups(request: web.Request) -> web.Response:
    """The groups of a South."""
    return json_response(await offload(request.app[STORE].list_groups, _south_id(request)))


@routes.post("/api/south/{id}/groups")
async def create_group(request: web.Request) -> web.Response:
    """Add a group; 201 with it."""
    body = await read_json(request)
    group = await offload(request.app[STORE].create_group, _south_id(request), body, actor=actor(request))
    await _reconcile(request, _south_id(request))
    return json_response(group, status=201)


@routes.get("/api/south/{id}/groups/{groupId}")
async def get_group(request: web.Request) -> web.Response:
    """One group."""
    return json_response(await offload(request.app[STORE].get_group, _south_id(request), request.match_info["groupId"]))


@routes.put("/api/south/{id}/groups/{groupId}")
async def update_group(request: web.Request) -> web.Response:
    """Replace a group (its items follow its scan mode)."""
    body = await read_json(request)
    group_id = request.match_info["groupId"]
    await offload(request.app[STORE].update_group, _south_id(request), group_id, body, actor=actor(request))
    await _reconcile(request, _south_id(request))
    return no_content()


@routes.delete("/api/south/{id}/groups/{groupId}")
async def delete_group(request: web.Request) -> web.Response:
    """Delete a group (its items stay, ungrouped)."""
    group_id = request.match_info["groupId"]
    norths = await offload(request.app[STORE].delete_group, _south_id(request), group_id)
    await _reconcile(request, _south_id(request), norths)
    return no_content()
