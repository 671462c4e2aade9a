"""OpenAPI operations of the history-query routes (``engine.api.routes_history``), merged into ``OPERATIONS``."""

from __future__ import annotations

from typing import Any


def history_operations() -> dict[tuple[str, str], Any]:
    """What every ``/api/history-queries`` route (and its live stream) reads and answers."""
    # Imported here: ``engine.api.openapi_operations`` calls this while it is being built.
    from engine.api import openapi_operations as ops
    from engine.config.history_models import (
        HistoryItemCommand,
        HistoryItemDTO,
        HistoryQueryCommand,
        HistoryQueryDTO,
        HistoryQueryLightDTO,
    )

    operation, param, string = ops.Operation, ops.Param, {"type": "string"}
    base = "/api/history-queries"
    csv_form = ops.object_schema(
        {"itemsToImport": ops._CSV_FILE, "delimiter": ops._DELIMITER, "deleteItemsNotPresent": string},
        required=("itemsToImport",),
    )
    crud = {
        ("GET", base): operation(status=200, answer=list[HistoryQueryLightDTO]),
        ("POST", base): operation(
            body=ops.HistoryTypes(HistoryQueryCommand, HistoryItemCommand),
            status=201,
            answer=HistoryQueryDTO,
            query=(
                param("fromSouth", string, "Copy this South's type, settings (secrets kept) and items."),
                param("fromNorth", string, "Copy this North's type, settings (secrets kept) and caching."),
            ),
            errors=(404,),
            note="`southSettings`/`northSettings` follow the manifests of `southType`/`northType`.",
        ),
        ("GET", f"{base}/{{id}}"): operation(status=200, answer=HistoryQueryDTO),
        ("PUT", f"{base}/{{id}}"): operation(
            body=HistoryQueryCommand,
            query=(param("resetCache", {"type": "boolean"}, "Also forget what the query read and cached."),),
            note="An empty secret keeps the stored one; `items` left out keeps the stored items.",
        ),
        ("DELETE", f"{base}/{{id}}"): operation(),
        ("POST", f"{base}/{{id}}/start"): operation(),
        ("POST", f"{base}/{{id}}/pause"): operation(),
        ("GET", f"{base}/{{id}}/items"): operation(status=200, answer=list[HistoryItemDTO]),
        ("POST", f"{base}/{{id}}/items"): operation(body=HistoryItemCommand, status=201, answer=HistoryItemDTO),
        ("DELETE", f"{base}/{{id}}/items"): operation(),
        ("GET", f"{base}/{{id}}/items/export"): operation(
            status=200, answer=string, answer_media="text/csv", query=(param("delimiter", ops._DELIMITER),)
        ),
        ("POST", f"{base}/{{id}}/items/import"): operation(body=csv_form, media="multipart/form-data"),
        ("GET", f"{base}/{{id}}/items/{{itemId}}"): operation(status=200, answer=HistoryItemDTO),
        ("PUT", f"{base}/{{id}}/items/{{itemId}}"): operation(body=HistoryItemCommand),
        ("DELETE", f"{base}/{{id}}/items/{{itemId}}"): operation(),
        ("POST", f"{base}/{{id}}/items/{{itemId}}/enable"): operation(),
        ("POST", f"{base}/{{id}}/items/{{itemId}}/disable"): operation(),
    }
    return {**crud, **_worker_calls()}


def _worker_calls() -> dict[tuple[str, str], Any]:
    """Tests and cache operations (run by the query's workers, or by the engine on its cache folder)."""
    from engine.api import openapi_operations as ops
    from engine.api.util import QUERY_INT_MAX
    from engine.cache.north.operations import CacheContentUpdateCommand

    operation, param, string = ops.Operation, ops.Param, {"type": "string"}
    base = "/api/history-queries"
    settings = {"anyOf": [{"type": "object"}, {"type": "null"}], "description": "Settings to test instead."}
    window = ops.object_schema({"startTime": string, "endTime": string}, required=())
    item_test = ops.object_schema(
        {
            "southSettings": settings,
            "itemSettings": {"type": "object"},
            "itemName": string,
            "testingSettings": ops.object_schema({"history": window}, required=()),
        },
        required=("itemSettings",),
    )
    cache_answer = ops.object_schema({folder: {"type": "array", "items": ops._CACHE_ENTRY} for folder in ops._FOLDERS})
    return {
        **{
            ("POST", f"{base}/{{id}}/test/{role}"): operation(
                body=settings, body_required=False, errors=(409,), note="400 says why the test failed."
            )
            for role in ("south", "north")
        },
        ("POST", f"{base}/{{id}}/test/items"): operation(
            body=item_test, status=200, answer=ops._OIBUS_CONTENT, errors=(409,)
        ),
        ("GET", f"{base}/{{id}}/cache/search"): operation(
            status=200,
            answer=cache_answer,
            query=(
                param("nameContains", string),
                param("start", {"type": "string", "format": "date-time"}),
                param("end", {"type": "string", "format": "date-time"}),
                param(
                    "maxNumberOfFilesReturned",
                    {"type": "integer", "minimum": 0, "maximum": QUERY_INT_MAX, "default": 1000},
                ),
            ),
            errors=(503,),
        ),
        ("GET", f"{base}/{{id}}/cache/content/{{filename}}"): operation(
            status=200,
            answer={"type": "string", "contentMediaType": "application/octet-stream"},
            answer_media="*/*",
            query=(param("folder", {"enum": list(ops._FOLDERS), "default": "cache"}),),
            errors=(503,),
        ),
        ("POST", f"{base}/{{id}}/cache/update"): operation(body=CacheContentUpdateCommand, errors=(503,)),
        ("DELETE", f"{base}/{{id}}/cache/update"): operation(body=CacheContentUpdateCommand, errors=(503,)),
        ("GET", "/sse/history-queries/{id}"): operation(
            status=200, answer=ops._SSE_EVENT, answer_media="text/event-stream"
        ),
    }
