"""South routes: types and manifests, connectors, items (list, search, bulk) and groups.

After each stored change the runtime reconciles the South's worker, and the Norths whose routing rules
name that South when items or groups they may refer to changed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Concatenate, ParamSpec, Protocol

import msgspec
from aiohttp import web

from connectors.errors import SettingsError
from engine.api.connector_routes import ConnectorCalls, changed, connector_routes, reconcile, reconciled
from engine.api.keys import STORE
from engine.api.util import actor, json_response, offload, query_bool, query_int, read_json
from engine.api.worker_calls import call_worker, test_connection
from engine.cache.south import CacheEntry, SouthCacheDB, format_instant
from engine.config.errors import NotFoundError
from engine.config.validation import convert

P = ParamSpec("P")

# Types, manifests, list, create, read, start and stop; the routes below are the South's own.
routes = connector_routes(
    "south",
    ConnectorCalls(
        list_all=lambda store: store.souths.list_souths(),
        create=lambda store, body, *, actor: store.souths.create_south(body, actor=actor),
        read=lambda store, south_id: store.souths.south_dto(south_id),
        set_enabled=lambda store, south_id, enabled, *, actor: store.souths.set_south_enabled(
            south_id, enabled, actor=actor
        ),
    ),
)


ITEM_TEST_TIMEOUT_S = 120.0
"""How long one read of an item test may take in the worker (a history read can be long)."""


class HistoryWindow(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """The interval a history item test reads."""

    start_time: Annotated[datetime, msgspec.Meta(tz=True)]
    end_time: Annotated[datetime, msgspec.Meta(tz=True)]


class ItemTestingSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Upstream's ``SouthConnectorItemTestingSettings``."""

    history: HistoryWindow | None = None


class ItemTestCommand(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Upstream's ``SouthItemTestRequest``: the South settings to use (``None``: the stored ones), the item's."""

    south_settings: dict[str, Any] | None = None
    item_settings: dict[str, Any]
    testing_settings: ItemTestingSettings | None = None


def _south_id(request: web.Request) -> str:
    return request.match_info["id"]


async def _item_ids(request: web.Request) -> tuple[list[str], str]:
    """The item ids of a bulk body, ``{"itemIds": [...]}`` (upstream 3.9) or the bare array, and their path."""
    body = await read_json(request)
    if isinstance(body, dict):
        return convert(body, ItemIds).item_ids, "itemIds"
    return convert(body, list[str]), ""


@contextmanager
def _under(prefix: str) -> Iterator[None]:
    """Name the store's errors about ids (``[2]``) as the body does (``itemIds[2]``)."""
    try:
        yield
    except SettingsError as err:
        if not prefix:
            raise
        raise SettingsError({f"{prefix}{path}": problem for path, problem in err.errors.items()}) from err


class ItemIds(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Body of the bulk item routes (``enable``, ``disable``, ``delete``)."""

    item_ids: list[str]


class MoveToGroup(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Body of ``POST /api/south/{id}/items/move-to-group``: ``groupId`` null takes the items out of any group."""

    item_ids: list[str]
    group_id: str | None


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
    return await _routing_changed(request, request.app[STORE].souths.update_south, body, actor=actor(request))


@routes.delete("/api/south/{id}")
async def delete_south(request: web.Request) -> web.Response:
    """Delete a South with its items and groups (its worker stops)."""
    return await _routing_changed(request, request.app[STORE].souths.delete_south)


@routes.post("/api/south/{id}/test/connection")
async def test_south_connection(request: web.Request) -> web.Response:
    """Test the South's connection, with the body's settings if any (see ``worker_calls.test_connection``)."""
    return await test_connection(request, "south")


# --- Items (fixed paths before ``{itemId}``) ------------------------------------------------------------


@routes.post("/api/south/{id}/items/test")
async def test_item(request: web.Request) -> web.Response:
    """Read one item once and answer what it produced (upstream's ``OIBusContent``), sending it nowhere.

    Body: ``{"southSettings"?, "itemSettings", "testingSettings"?: {"history"?: {"startTime", "endTime"}}}``;
    query: ``itemName`` (the values' ``pointId``), ``itemId`` (a stored item: its empty secrets are the stored
    ones, and its state, such as a folder scanner's files already sent, is read), ``southType``. Runs in the
    South's worker on an instance built for the test: 409 when the South is not running, 400 with the
    connector's message when the read fails. A folder scanner lists the files it would take, touching none.
    """
    store, south_id = request.app[STORE], _south_id(request)
    command = convert(await read_json(request), ItemTestCommand)
    window = command.testing_settings.history if command.testing_settings else None
    if window is not None and window.end_time <= window.start_time:
        raise SettingsError({"testingSettings.history.endTime": "must be after startTime"})
    type_name = request.query.get("southType") or None
    item_id = request.query.get("itemId") or None
    params: dict[str, Any] = {
        "item": {
            "id": item_id,
            "name": request.query.get("itemName") or "test",
            "settings": await offload(
                store.souths.candidate_item_settings,
                south_id,
                command.item_settings,
                item_id=item_id,
                type_name=type_name,
            ),
        }
    }
    if command.south_settings is not None:
        params["settings"] = await offload(
            store.connectors.candidate_settings, "south", south_id, command.south_settings, type_name=type_name
        )
    if window is not None:
        try:
            params["startTime"] = format_instant(window.start_time)
            params["endTime"] = format_instant(window.end_time)
        except OverflowError:  # Year 1 or 9999 moved out of range by its offset.
            raise SettingsError({"testingSettings.history": "instant out of range"}) from None
    result = await call_worker(
        request,
        "south",
        south_id,
        "test_item",
        params,
        why="item tests run in the connector's worker",
        timeout_s=ITEM_TEST_TIMEOUT_S,
    )
    return json_response(result)


@routes.get("/api/south/{id}/items/list")
async def list_items(request: web.Request) -> web.Response:
    """Every item of a South."""
    return json_response(await offload(request.app[STORE].souths.list_items, _south_id(request)))


@routes.get("/api/south/{id}/items/search")
async def search_items(request: web.Request) -> web.Response:
    """A page of 50 items filtered by ``name`` (contains), ``scanModeId`` and ``enabled``."""
    page = await offload(
        request.app[STORE].souths.search_items,
        _south_id(request),
        name=request.query.get("name") or None,
        scan_mode_id=request.query.get("scanModeId") or None,
        enabled=query_bool(request, "enabled"),
        page=query_int(request, "page", 0),
    )
    return json_response(page)


@routes.post("/api/south/{id}/items/enable")
async def enable_items(request: web.Request) -> web.Response:
    """Enable the items whose ids the body lists (``{itemIds}`` or a bare array)."""
    ids, prefix = await _item_ids(request)
    with _under(prefix):
        return await changed(
            request, "south", request.app[STORE].souths.set_items_enabled, ids, True, actor=actor(request)
        )


@routes.post("/api/south/{id}/items/disable")
async def disable_items(request: web.Request) -> web.Response:
    """Disable the items whose ids the body lists."""
    ids, prefix = await _item_ids(request)
    with _under(prefix):
        return await changed(
            request, "south", request.app[STORE].souths.set_items_enabled, ids, False, actor=actor(request)
        )


@routes.post("/api/south/{id}/items/move-to-group")
async def move_items_to_group(request: web.Request) -> web.Response:
    """Move the listed items into a group of this South (``groupId`` null: out of any group), as upstream."""
    body = convert(await read_json(request), MoveToGroup)
    store = request.app[STORE]
    return await changed(
        request, "south", store.souths.move_items_to_group, body.item_ids, body.group_id, actor=actor(request)
    )


@routes.post("/api/south/{id}/items/delete")
async def delete_some_items(request: web.Request) -> web.Response:
    """Delete the items whose ids the body lists."""
    ids, prefix = await _item_ids(request)
    with _under(prefix):
        return await _routing_changed(request, request.app[STORE].souths.delete_items, ids)


@routes.post("/api/south/{id}/items")
async def create_item(request: web.Request) -> web.Response:
    """Add one item; 201 with it."""
    return await _created(request, request.app[STORE].souths.create_item)


@routes.delete("/api/south/{id}/items")
async def delete_all_items(request: web.Request) -> web.Response:
    """Delete every item of a South."""
    return await _routing_changed(request, request.app[STORE].souths.delete_all_items)


@routes.get("/api/south/{id}/items/{itemId}")
async def get_item(request: web.Request) -> web.Response:
    """One item (secrets blank)."""
    return json_response(
        await offload(request.app[STORE].souths.get_item, _south_id(request), request.match_info["itemId"])
    )


@routes.get("/api/south/{id}/items/{itemId}/last-value")
async def get_item_last_value(request: web.Request) -> web.Response:
    """What the South cache holds for an item; 404 for an unknown item, or while nothing was recorded for it.

    ``{itemId, itemName, groupId, groupName, queryTime, value, trackedInstant}``. An item synced with its group
    may have no row of its own: the group's row answers for it then.
    """
    store, south_id = request.app[STORE], _south_id(request)
    item = await offload(store.souths.get_item, south_id, request.match_info["itemId"])
    group_id = item.group.id if item.group else None
    synced_group = group_id if item.sync_with_group else None
    entry = await offload(_last_value, store.data_dir / "cache" / "cache.db", south_id, item.id, synced_group)
    if entry is None:
        raise NotFoundError(f"No value recorded yet for item {item.id} of South {south_id}")
    return json_response(
        {
            "itemId": item.id,
            "itemName": item.name,
            "groupId": entry.group_id or group_id,
            "groupName": item.group.name if item.group else None,
            "queryTime": format_instant(entry.query_time) if entry.query_time else None,
            "value": entry.value,
            "trackedInstant": format_instant(entry.tracked_instant) if entry.tracked_instant else None,
        }
    )


def _last_value(path: Path, south_id: str, item_id: str, group_id: str | None) -> CacheEntry | None:
    """Read an item's row (else its group's) from the South cache; ``None`` when there is none (runs in a thread)."""
    if not path.exists():
        return None  # No South has run yet: do not create the file from the engine.
    with SouthCacheDB(path) as db:
        cache = db.for_south(south_id)
        entry = cache.entry(item_id)
        if entry is None and group_id is not None:
            entry = cache.entry(None, group_id)
        return entry


@routes.put("/api/south/{id}/items/{itemId}")
async def update_item(request: web.Request) -> web.Response:
    """Replace one item (an empty secret keeps the stored one)."""
    body = await read_json(request)
    store, south_id = request.app[STORE], _south_id(request)
    await offload(store.souths.update_item, south_id, request.match_info["itemId"], body, actor=actor(request))
    return await reconciled(request, "south", await offload(store.souths.routing_norths, south_id))


@routes.delete("/api/south/{id}/items/{itemId}")
async def delete_item(request: web.Request) -> web.Response:
    """Delete one item."""
    store, item_id = request.app[STORE], request.match_info["itemId"]
    await offload(store.souths.get_item, _south_id(request), item_id)  # 404 for an unknown item, not a 400
    return await _routing_changed(request, store.souths.delete_items, [item_id])


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
    await offload(store.souths.get_item, _south_id(request), item_id)  # 404 for an unknown item, not a 400
    return await changed(request, "south", store.souths.set_items_enabled, [item_id], enabled, actor=actor(request))


# --- Groups -------------------------------------------------------------------------------------------


@routes.get("/api/south/{id}/groups")
async def list_groups(request: web.Request) -> web.Response:
    """The groups of a South."""
    return json_response(await offload(request.app[STORE].souths.list_groups, _south_id(request)))


@routes.post("/api/south/{id}/groups")
async def create_group(request: web.Request) -> web.Response:
    """Add a group; 201 with it."""
    return await _created(request, request.app[STORE].souths.create_group)


@routes.get("/api/south/{id}/groups/{groupId}")
async def get_group(request: web.Request) -> web.Response:
    """One group."""
    return json_response(
        await offload(request.app[STORE].souths.get_group, _south_id(request), request.match_info["groupId"])
    )


@routes.put("/api/south/{id}/groups/{groupId}")
async def update_group(request: web.Request) -> web.Response:
    """Replace a group (its items follow its scan mode)."""
    body = await read_json(request)
    group_id = request.match_info["groupId"]
    return await changed(request, "south", request.app[STORE].souths.update_group, group_id, body, actor=actor(request))


@routes.delete("/api/south/{id}/groups/{groupId}")
async def delete_group(request: web.Request) -> web.Response:
    """Delete a group (its items stay, ungrouped)."""
    return await _routing_changed(request, request.app[STORE].souths.delete_group, request.match_info["groupId"])
