"""History queries at upstream's paths (``/api/history-queries``): CRUD, status, items, tests and cache.

- ``POST /api/history-queries?fromSouth=<id>&fromNorth=<id>`` copies that South's type, settings and items
  and that North's type, settings and caching into what the body leaves out (secrets kept, never shown).
- ``PUT /api/history-queries/{id}?resetCache=true`` also forgets what the query read and cached.
- ``POST /api/history-queries/{id}/start`` (RUNNING) and ``/pause`` (PAUSED); the engine sets FINISHED and
  ERRORED. A change to a running query restarts its workers, which resume from their tracked instants.
- Items: ``/api/history-queries/{id}/items[/{itemId}[/enable|/disable]]``, ``GET .../items/export``,
  ``POST .../items/import`` (multipart ``itemsToImport`` CSV, ``delimiter``, ``deleteItemsNotPresent``).
- Tests: ``POST .../test/south``, ``.../test/north`` (body: settings to test, optional) and
  ``.../test/items``; run by the query's worker, or by a worker started for the test.
- Cache (as a North's): ``GET .../cache/search``, ``GET .../cache/content/{filename}``,
  ``POST .../cache/update`` (and ``DELETE``, upstream's verb).
"""

from __future__ import annotations

import mimetypes
from typing import Any

import msgspec
from aiohttp import web
from aiohttp.helpers import content_disposition_header

from connectors.errors import SettingsError
from engine.api.errors import ConnectorNotRunning, ConnectorTestFailed, InvalidRequest
from engine.api.keys import HISTORY, STORE
from engine.api.routes_north import CACHE_TIMEOUT_S, DEFAULT_MAX_FILES, PREVIEW_BYTES, instant_query
from engine.api.routes_south_csv import _form, _text
from engine.api.util import actor, json_response, no_content, offload, query_bool, query_int, read_json
from engine.api.worker_calls import TEST_TIMEOUT_S, optional_json, settings_to_test
from engine.cache.north.operations import CacheContentUpdateCommand
from engine.cache.north.types import FOLDERS
from engine.config.errors import NotFoundError
from engine.config.history_csv import history_items_from_csv, history_items_to_csv
from engine.config.validation import convert
from engine.errors import TryAgainLater

routes = web.RouteTableDef()
BASE = "/api/history-queries"


async def _reconciled(request: web.Request, *, restart: bool = True) -> web.Response:
    """Make the query's workers match the store (a running query restarts with its new settings); 204."""
    await request.app[HISTORY].reconcile(request.match_info["id"], restart=restart)
    return no_content()


@routes.get(BASE)
async def list_history_queries(request: web.Request) -> web.Response:
    """Every history query (light form: no settings)."""
    return json_response(await offload(request.app[STORE].history_queries.list_history_queries))


@routes.post(BASE)
async def create_history_query(request: web.Request) -> web.Response:
    """Create a history query (PENDING); ``?fromSouth=``/``?fromNorth=`` copy an existing connector; 201."""
    body = await read_json(request)
    created = await offload(
        request.app[STORE].history_queries.create_history_query,
        body,
        from_south=request.query.get("fromSouth") or None,
        from_north=request.query.get("fromNorth") or None,
        actor=actor(request),
    )
    return json_response(created, status=201)


@routes.get(BASE + "/{id}")
async def get_history_query(request: web.Request) -> web.Response:
    """One history query (secrets blank); an ERRORED one says why in ``error`` (stored, null otherwise)."""
    history_id = request.match_info["id"]
    return json_response(await offload(request.app[STORE].history_queries.history_query_dto, history_id))


@routes.put(BASE + "/{id}")
async def update_history_query(request: web.Request) -> web.Response:
    """Replace a history query (``items`` left out: kept); ``?resetCache=true`` forgets what it read; 204."""
    history_id, history = request.match_info["id"], request.app[HISTORY]
    reset = bool(query_bool(request, "resetCache"))
    await offload(
        request.app[STORE].history_queries.update_history_query,
        history_id,
        await read_json(request),
        actor=actor(request),
    )
    if reset:
        running = history_id in history.runs
        if running:
            await history.stop_run(history_id)
        await history.reset_cache(history_id)
    return await _reconciled(request)


@routes.delete(BASE + "/{id}")
async def delete_history_query(request: web.Request) -> web.Response:
    """Delete a history query: its workers stop, what it read and cached is forgotten; 204."""
    history_id, history = request.match_info["id"], request.app[HISTORY]
    await offload(request.app[STORE].history_queries.delete_history_query, history_id)
    await history.reconcile(history_id)
    await history.reset_cache(history_id)
    return no_content()


async def _set_status(request: web.Request, status: Any) -> web.Response:
    await offload(
        request.app[STORE].history_queries.set_history_status, request.match_info["id"], status, actor=actor(request)
    )
    return await _reconciled(request, restart=False)


@routes.post(BASE + "/{id}/start")
async def start_history_query(request: web.Request) -> web.Response:
    """Start (or resume) a history query: RUNNING; it resumes from its tracked instants; 204."""
    return await _set_status(request, "RUNNING")


@routes.post(BASE + "/{id}/pause")
async def pause_history_query(request: web.Request) -> web.Response:
    """Pause a history query: PAUSED, its workers stop; 204."""
    return await _set_status(request, "PAUSED")


# --- Items ------------------------------------------------------------------------------------------------


@routes.get(BASE + "/{id}/items/export")
async def export_history_items(request: web.Request) -> web.Response:
    """The query's items as CSV (``?delimiter=``, default ``,``); secret settings empty."""
    store, history_id = request.app[STORE], request.match_info["id"]
    query = await offload(store.history_queries.history_query_dto, history_id)
    manifest = await offload(store.history_queries.history_south_manifest, history_id)
    if manifest.item_settings is None:
        raise SettingsError({"southType": f"South type '{manifest.id}' has no items"})
    items = msgspec.to_builtins(query.items)
    text = history_items_to_csv(items, manifest.item_settings, request.query.get("delimiter"))
    return web.Response(
        text=text,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": content_disposition_header("attachment", filename="items.csv")},
    )


@routes.post(BASE + "/{id}/items/import")
async def import_history_items(request: web.Request) -> web.Response:
    """Create or update items (by name) from multipart ``itemsToImport`` (CSV); all or none; 204."""
    store, history_id = request.app[STORE], request.match_info["id"]
    manifest = await offload(store.history_queries.history_south_manifest, history_id)
    if manifest.item_settings is None:
        raise SettingsError({"southType": f"South type '{manifest.id}' has no items"})
    form = await _form(request)
    text = _text(form, "itemsToImport", required=True) or ""
    commands = history_items_from_csv(manifest.item_settings, text, _text(form, "delimiter", required=False))
    delete_missing = (_text(form, "deleteItemsNotPresent", required=False) or "").lower() in ("true", "1")
    await offload(
        store.history_queries.import_history_items,
        history_id,
        commands,
        delete_missing=delete_missing,
        actor=actor(request),
    )
    return await _reconciled(request)


@routes.get(BASE + "/{id}/items")
async def list_history_items(request: web.Request) -> web.Response:
    """Every item of the query."""
    return json_response(
        (await offload(request.app[STORE].history_queries.history_query_dto, request.match_info["id"])).items
    )


@routes.post(BASE + "/{id}/items")
async def create_history_item(request: web.Request) -> web.Response:
    """Add an item (settings checked against the South type); 201 with it."""
    body = await read_json(request)
    item = await offload(
        request.app[STORE].history_queries.save_history_item, request.match_info["id"], body, actor=actor(request)
    )
    await request.app[HISTORY].reconcile(request.match_info["id"], restart=True)
    return json_response(item, status=201)


@routes.delete(BASE + "/{id}/items")
async def delete_all_history_items(request: web.Request) -> web.Response:
    """Delete every item of the query; 204."""
    await offload(request.app[STORE].history_queries.delete_history_items, request.match_info["id"])
    return await _reconciled(request)


@routes.get(BASE + "/{id}/items/{itemId}")
async def get_history_item(request: web.Request) -> web.Response:
    """One item of the query."""
    query = await offload(request.app[STORE].history_queries.history_query_dto, request.match_info["id"])
    item_id = request.match_info["itemId"]
    for item in query.items:
        if item.id == item_id:
            return json_response(item)
    raise NotFoundError(f"Item {item_id} not found in history query {query.id}")


@routes.put(BASE + "/{id}/items/{itemId}")
async def update_history_item(request: web.Request) -> web.Response:
    """Replace an item; 204."""
    body = await read_json(request)
    history_id, item_id = request.match_info["id"], request.match_info["itemId"]
    await offload(request.app[STORE].history_queries.save_history_item, history_id, body, item_id, actor=actor(request))
    return await _reconciled(request)


@routes.delete(BASE + "/{id}/items/{itemId}")
async def delete_history_item(request: web.Request) -> web.Response:
    """Delete an item; 204."""
    await offload(
        request.app[STORE].history_queries.delete_history_items,
        request.match_info["id"],
        [request.match_info["itemId"]],
    )
    return await _reconciled(request)


async def _item_enabled(request: web.Request, enabled: bool) -> web.Response:
    history_id, item_id = request.match_info["id"], request.match_info["itemId"]
    await offload(request.app[STORE].history_queries.set_history_item_enabled, history_id, item_id, enabled)
    return await _reconciled(request)


@routes.post(BASE + "/{id}/items/{itemId}/enable")
async def enable_history_item(request: web.Request) -> web.Response:
    """Enable an item; 204."""
    return await _item_enabled(request, True)


@routes.post(BASE + "/{id}/items/{itemId}/disable")
async def disable_history_item(request: web.Request) -> web.Response:
    """Disable an item; 204."""
    return await _item_enabled(request, False)


# --- Tests ------------------------------------------------------------------------------------------------


async def run_test(request: web.Request, query: dict[str, Any], role: str, method: str, params: dict[str, Any]) -> Any:
    """Run a test in the query's worker (or one started for it); a failure is a 400 with the connector's words."""
    try:
        return await request.app[HISTORY].test(query, role, method, params, TEST_TIMEOUT_S)
    except ConnectionError as err:
        raise ConnectorNotRunning(f"history query {query['id']}: {err}") from err
    except TimeoutError as err:
        raise ConnectorTestFailed(f"the {role} of history query {query['id']} did not answer in time") from err
    except RuntimeError as err:
        raise ConnectorTestFailed(str(err)) from err


async def _test_connection(request: web.Request, kind: Any) -> web.Response:
    raw, _ = settings_to_test(await optional_json(request))
    query = await offload(request.app[STORE].history_queries.history_test_query, request.match_info["id"], kind, raw)
    await run_test(request, query, kind, "test_connection", {})
    return no_content()


@routes.post(BASE + "/{id}/test/south")
async def test_history_south(request: web.Request) -> web.Response:
    """Test the connection of the query's South (body: settings to test instead of the stored ones); 204."""
    return await _test_connection(request, "south")


@routes.post(BASE + "/{id}/test/north")
async def test_history_north(request: web.Request) -> web.Response:
    """Test the connection of the query's North (body: settings to test instead of the stored ones); 204."""
    return await _test_connection(request, "north")


@routes.post(BASE + "/{id}/test/items")
async def test_history_item(request: web.Request) -> web.Response:
    """Read one item over the query's range (or ``testingSettings.history``): what the read produced.

    Body: ``{"southSettings"?, "itemSettings", "itemName"?, "testingSettings"?: {"history": {startTime, endTime}}}``.
    """
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("itemSettings"), dict):
        raise SettingsError({"itemSettings": "required object"})
    query = await offload(
        request.app[STORE].history_queries.history_test_query,
        request.match_info["id"],
        "south",
        body.get("southSettings"),
    )
    window = ((body.get("testingSettings") or {}).get("history")) or {}
    if not isinstance(window, dict):
        raise SettingsError({"testingSettings.history": "expected {startTime, endTime}"})
    params = {
        "item": {"name": str(body.get("itemName") or "test"), "settings": body["itemSettings"]},
        "startTime": window.get("startTime") or query["queryTimeRange"]["startTime"],
        "endTime": window.get("endTime") or query["queryTimeRange"]["endTime"],
    }
    return json_response(await run_test(request, query, "south", "test_item", params))


# --- Cache ------------------------------------------------------------------------------------------------


async def cache_call(request: web.Request, method: str, params: dict[str, Any]) -> Any:
    """A cache operation on the query's North cache (its worker's, or the engine's when it is not running)."""
    history_id = request.match_info["id"]
    await offload(request.app[STORE].history_queries.history_status, history_id)  # 404 for an unknown query
    try:
        return await request.app[HISTORY].cache_request(history_id, method, params, CACHE_TIMEOUT_S)
    except (ConnectionError, TimeoutError, RuntimeError) as err:
        raise TryAgainLater(f"cache of history query {history_id}: {str(err) or type(err).__name__}") from err


@routes.get(BASE + "/{id}/cache/search")
async def search_history_cache(request: web.Request) -> web.Response:
    """Entries of cache, error and archive, as ``GET /api/north/{id}/cache/search``."""
    params: dict[str, Any] = {
        "nameContains": request.query.get("nameContains") or None,
        "start": instant_query(request, "start"),
        "end": instant_query(request, "end"),
        "maxNumberOfFilesReturned": query_int(request, "maxNumberOfFilesReturned", DEFAULT_MAX_FILES),
    }
    return json_response(await cache_call(request, "cache_search", params))


@routes.get(BASE + "/{id}/cache/content/{filename}")
async def get_history_cache_content(request: web.Request) -> web.StreamResponse:
    """The content of one entry of ``?folder=cache|error|archive`` (its first 2 MiB), as for a North."""
    folder = request.query.get("folder") or "cache"
    if folder not in FOLDERS:
        raise InvalidRequest(f"Query parameter folder must be cache, error or archive, got {folder!r}")
    filename = request.match_info["filename"]
    found = await cache_call(
        request, "cache_content", {"folder": folder, "filename": filename, "maxBytes": PREVIEW_BYTES}
    )
    if found is None:
        raise NotFoundError(f"No entry {filename} in the {folder} folder of history query {request.match_info['id']}")
    logical = str(found["contentFile"])
    return web.Response(
        body=found["content"],
        content_type=mimetypes.guess_type(logical)[0] or "application/octet-stream",
        headers={
            "Content-Disposition": content_disposition_header("inline", filename=logical),
            "X-Content-Size": str(found["contentSize"]),
            "X-Content-Truncated": "true" if found["truncated"] else "false",
        },
    )


async def _update_cache(request: web.Request) -> web.Response:
    command = convert(await read_json(request), CacheContentUpdateCommand)
    await cache_call(request, "cache_update", msgspec.to_builtins(command))
    return no_content()


@routes.post(BASE + "/{id}/cache/update")
async def update_history_cache(request: web.Request) -> web.Response:
    """Remove and move entries, as ``POST /api/north/{id}/cache/update``; 204."""
    return await _update_cache(request)


@routes.delete(BASE + "/{id}/cache/update")
async def update_history_cache_upstream(request: web.Request) -> web.Response:
    """The same with upstream's verb (``DELETE`` with a body); 204."""
    return await _update_cache(request)
