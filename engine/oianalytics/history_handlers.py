"""The eleven OIAnalytics history-query commands, through the same store and runtime calls as the REST API.

Ids on the wire are ``historyId`` (``historyQueryId`` for the three cache commands); locally all are
``historyQueryId``. Secrets in ``southSettings``, ``northSettings`` and items arrive RSA-encrypted and are
decrypted before the store seals them. Status changes answer ``History query started`` / ``paused``; any
other status asked for is refused (the command is ERRORED).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import msgspec

from connectors.errors import SettingsError
from engine.cache.north.operations import CacheContentUpdateCommand
from engine.config.crypto import secret_shape
from engine.config.errors import RefusedError
from engine.config.history_csv import history_items_from_csv
from engine.config.validation import convert

if TYPE_CHECKING:
    from engine.history_query.runs import HistoryRuns
    from engine.oianalytics.handlers import CommandContext
    from engine.oianalytics.repository import StoredCommand

CACHE_TIMEOUT_S = 60.0
PREVIEW_BYTES = 2 * 1024 * 1024


def _content(command: StoredCommand) -> dict[str, Any]:
    if not isinstance(command.content, dict):
        raise SettingsError({"commandContent": f"expected an object, got {type(command.content).__name__}"})
    return command.content


def _history_id(command: StoredCommand) -> str:
    value = command.ids.get("historyQueryId")
    if not isinstance(value, str) or not value:
        raise SettingsError({"historyQueryId": "required"})
    return value


def _runs(ctx: CommandContext) -> HistoryRuns:
    if ctx.history is None:
        raise RefusedError("history queries do not run in this engine")
    return ctx.history


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def decrypt_history(ctx: CommandContext, body: dict[str, Any]) -> dict[str, Any]:
    """A copy of a ``HistoryQueryCommandDTO`` with the secrets of its settings and items decrypted."""
    decryptor = ctx.decryptor()
    found = dict(body)
    for kind in ("south", "north"):
        manifest = ctx.store.manifests.get(kind, body.get(f"{kind}Type"))  # type: ignore[arg-type]
        if manifest is None:
            continue  # The store names the unknown type.
        shape = secret_shape(manifest.settings)
        found[f"{kind}Settings"] = decryptor.decrypt_secrets(body.get(f"{kind}Settings"), shape, f"{kind}Settings")
        if kind == "south" and manifest.item_settings is not None and isinstance(body.get("items"), list):
            item_shape = secret_shape(manifest.item_settings)
            found["items"] = [
                {
                    **item,
                    "settings": decryptor.decrypt_secrets(item.get("settings"), item_shape, f"items[{i}].settings"),
                }
                if isinstance(item, dict)
                else item
                for i, item in enumerate(body["items"])
            ]
    return found


async def _changed(ctx: CommandContext, history_id: str, *, restart: bool = True) -> None:
    await _runs(ctx).reconcile(history_id, restart=restart)
    ctx.history_changed()


async def create_history_query(ctx: CommandContext, command: StoredCommand) -> str:
    """``create-history-query`` (secrets copied from ``retrieveSecretsFromSouth``/``North`` when left empty)."""
    body = decrypt_history(ctx, _content(command))
    created = await asyncio.to_thread(
        ctx.store.history_queries.create_history_query,
        body,
        from_south=command.ids.get("southConnectorId") or None,
        from_north=command.ids.get("northConnectorId") or None,
        from_history=command.ids.get("historyQueryId") or None,
    )
    await _changed(ctx, created.id)
    return "History query created successfully"


async def update_history_query(ctx: CommandContext, command: StoredCommand) -> str:
    """``update-history-query``: ``{resetCache, historyQuery}``."""
    history_id, content = _history_id(command), _content(command)
    query = content.get("historyQuery")
    if not isinstance(query, dict):
        raise SettingsError({"historyQuery": "required object"})
    await asyncio.to_thread(ctx.store.history_queries.update_history_query, history_id, decrypt_history(ctx, query))
    if content.get("resetCache"):
        await _runs(ctx).stop_run(history_id)
        await _runs(ctx).reset_cache(history_id)
    await _changed(ctx, history_id)
    return "History query updated successfully"


async def delete_history_query(ctx: CommandContext, command: StoredCommand) -> str:
    """``delete-history-query``: its workers stop and what it read and cached is forgotten."""
    history_id = _history_id(command)
    await asyncio.to_thread(ctx.store.history_queries.delete_history_query, history_id)
    await _changed(ctx, history_id)
    await _runs(ctx).reset_cache(history_id)
    return "History query deleted successfully"


async def update_history_status(ctx: CommandContext, command: StoredCommand) -> str:
    """``update-history-query-status``: RUNNING starts (or resumes), PAUSED pauses; anything else is refused."""
    history_id = _history_id(command)
    status = _content(command).get("historyQueryStatus")
    if status not in ("RUNNING", "PAUSED"):
        raise RefusedError(f"historyQueryStatus must be RUNNING or PAUSED, got {status!r}")
    await asyncio.to_thread(ctx.store.history_queries.set_history_status, history_id, status)
    await _changed(ctx, history_id, restart=False)
    return "History query started" if status == "RUNNING" else "History query paused"


async def _test(ctx: CommandContext, command: StoredCommand, role: str, body: Any) -> Any:
    history_id = _history_id(command)
    raw = None
    if isinstance(body, dict) and body.get(f"{role}Settings") is not None:
        raw = decrypt_history(ctx, body)[f"{role}Settings"]
    query = await asyncio.to_thread(ctx.store.history_queries.history_test_query, history_id, role, raw)  # type: ignore[arg-type]
    return query, history_id


def _test_connection(role: str) -> Any:
    async def handler(ctx: CommandContext, command: StoredCommand) -> str:
        query, _ = await _test(ctx, command, role, command.content)
        await _runs(ctx).test(query, role, "test_connection", {})
        return _json({"items": []})

    handler.__doc__ = f"``test-history-query-{role}-connection``: in its worker, or one started for the test."
    return handler


async def test_history_item(ctx: CommandContext, command: StoredCommand) -> str:
    """``test-history-query-south-item``: ``{historyCommand, itemCommand, testingSettings}``."""
    content = _content(command)
    item = content.get("itemCommand")
    if not isinstance(item, dict):
        raise SettingsError({"itemCommand": "required"})
    history = content.get("historyCommand")
    query, _ = await _test(ctx, command, "south", history)
    decrypted = decrypt_history(ctx, {"southType": query["southType"], "items": [item]})["items"][0]
    window = (content.get("testingSettings") or {}).get("history") or {}
    params = {
        "item": {"name": item.get("name") or "test", "settings": decrypted.get("settings")},
        "startTime": window.get("startTime") or query["queryTimeRange"]["startTime"],
        "endTime": window.get("endTime") or query["queryTimeRange"]["endTime"],
    }
    started = time.monotonic()
    raw = await _runs(ctx).test(query, "south", "test_item", params, 120.0)
    elapsed_ms = round((time.monotonic() - started) * 1000)
    return _json({"raw": raw, "transformed": None, "connectionDuration": 0, "queryDuration": elapsed_ms})


async def import_history_items(ctx: CommandContext, command: StoredCommand) -> str:
    """``create-or-update-history-query-south-items-from-csv``: items by name updated, new ones created."""
    history_id, content = _history_id(command), _content(command)
    text = content.get("csvContent")
    if not isinstance(text, str):
        raise SettingsError({"csvContent": "required"})
    manifest = await asyncio.to_thread(ctx.store.history_queries.history_south_manifest, history_id)
    if manifest.item_settings is None:
        raise SettingsError({"southType": f"South type '{manifest.id}' has no items"})
    items = history_items_from_csv(manifest.item_settings, text, content.get("delimiter"))
    count = await asyncio.to_thread(
        ctx.store.history_queries.import_history_items,
        history_id,
        items,
        delete_missing=bool(content.get("deleteItemsNotPresent")),
    )
    name = (await asyncio.to_thread(ctx.store.history_queries.history_query_dto, history_id)).name
    await _changed(ctx, history_id)
    return f"{count} items imported on History query {name}"


async def search_history_cache(ctx: CommandContext, command: StoredCommand) -> str:
    """``search-history-cache-content``: as ``search-north-cache-content``, on the query's cache."""
    from engine.oianalytics.handlers import cache_search_params, cache_search_result

    history_id = _history_id(command)
    params = cache_search_params(_content(command))
    found = await _runs(ctx).cache_request(history_id, "cache_search", params, CACHE_TIMEOUT_S)
    north = (_runs(ctx).progress(history_id) or {}).get("north") or {}
    return cache_search_result(found, north)


async def get_history_cache_file(ctx: CommandContext, command: StoredCommand) -> str:
    """``get-history-cache-file-content``: the first 2 MiB of one entry."""
    from engine.oianalytics.handlers import cache_file_params, cache_file_result

    history_id = _history_id(command)
    params = cache_file_params(_content(command))
    found = await _runs(ctx).cache_request(history_id, "cache_content", params, CACHE_TIMEOUT_S)
    return cache_file_result(found, params, f"history query {history_id}")


async def update_history_cache(ctx: CommandContext, command: StoredCommand) -> str:
    """``update-history-cache-content``: removals then moves, folder by folder."""
    history_id = _history_id(command)
    update = convert(_content(command), CacheContentUpdateCommand, path="commandContent")
    await _runs(ctx).cache_request(history_id, "cache_update", msgspec.to_builtins(update), CACHE_TIMEOUT_S)
    return "Cache updated successfully"


HISTORY_HANDLERS: dict[str, Any] = {
    "create-history-query": create_history_query,
    "update-history-query": update_history_query,
    "delete-history-query": delete_history_query,
    "update-history-query-status": update_history_status,
    "test-history-query-north-connection": _test_connection("north"),
    "test-history-query-south-connection": _test_connection("south"),
    "test-history-query-south-item": test_history_item,
    "create-or-update-history-query-south-items-from-csv": import_history_items,
    "search-history-cache-content": search_history_cache,
    "get-history-cache-file-content": get_history_cache_file,
    "update-history-cache-content": update_history_cache,
}
"""Command type → handler, merged into ``engine.oianalytics.handlers.HANDLERS``."""
