"""South items as CSV at upstream's paths: to-csv, export, import check and import.

- ``POST /api/south/{southType}/items/to-csv``: multipart ``items`` (a JSON array of items not saved yet) and
  ``delimiter`` → ``items.csv``.
- ``POST /api/south/{id}/items/export`` (JSON body ``{delimiter}``) and ``GET`` (``?delimiter=``) → the
  South's items as ``items.csv``. Secret settings are empty: secrets never leave the engine.
- ``POST /api/south/{southType}/items/import/check``: multipart ``itemsToImport`` (the CSV), ``currentItems``
  (optional JSON array of the items the form already holds) and ``delimiter`` → ``{items, errors}``; nothing
  is stored. Each checked item has its ``line`` and ``action``: ``new``, or ``update`` when a current item
  has its name (its ``id`` is then that item's); each error is ``{item, error, line, field}``. The segment
  may also be a South id: its stored items are then the current ones unless ``currentItems`` is sent.
- ``POST /api/south/{id}/items/import``: multipart ``items`` (a JSON array, e.g. the checked ``items``) as
  upstream, or ``itemsToImport`` (the CSV itself, with ``delimiter``): an item with a stored item's id or
  name updates it, any other is added; all or none, and the answer names every bad field
  (``line 3.settings_address`` for a CSV). A checked answer's secrets are blank (an update keeps the stored
  secret), so import the CSV itself to give new items the secrets it holds.

The delimiter defaults to ``,``. Paths are registered before ``/api/south/{id}/items/{itemId}``.
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web
from aiohttp.helpers import content_disposition_header
from multidict import MultiDictProxy

from connectors.errors import SettingsError
from engine.api.connector_routes import reconciled
from engine.api.keys import STORE
from engine.api.util import MALFORMED_MULTIPART, actor, json_response, offload, read_json
from engine.config.crypto import blank, secret_shape
from engine.config.items_csv import ParsedRow, check_delimiter, parse_row, read_rows, to_csv
from engine.config.south_import import ImportTarget

routes = web.RouteTableDef()

FormValue = str | bytes | bytearray | web.FileField


async def _form(request: web.Request) -> MultiDictProxy[FormValue]:
    if not request.content_type.startswith(("multipart/", "application/x-www-form-urlencoded")):
        raise SettingsError({"body": f"expected a multipart/form-data body, got {request.content_type or 'none'}"})
    try:
        return await request.post()
    except MALFORMED_MULTIPART as err:
        raise SettingsError({"body": f"unreadable form body: {err}"}) from err


def _text(form: MultiDictProxy[FormValue], name: str, *, required: bool) -> str | None:
    """A form field's text, whether sent as a file or as a plain field."""
    value = form.get(name)
    if value is None:
        if required:
            raise SettingsError({name: "required form field missing"})
        return None
    raw = value.file.read() if isinstance(value, web.FileField) else value
    if isinstance(raw, str):
        return raw
    try:
        return bytes(raw).decode("utf-8")
    except UnicodeDecodeError as err:
        raise SettingsError({name: f"not UTF-8 text ({err.reason} at byte {err.start})"}) from err


def _json_array(text: str, name: str) -> list[Any]:
    try:
        value = msgspec.json.decode(text)
    except msgspec.DecodeError as err:
        raise SettingsError({name: f"invalid JSON: {err}"}) from err
    if not isinstance(value, list):
        raise SettingsError({name: "expected a JSON array of items"})
    return value


def _csv_response(text: str) -> web.Response:
    return web.Response(
        text=text,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": content_disposition_header("attachment", filename="items.csv")},
    )


def _settings_keys(target: ImportTarget) -> list[str]:
    struct = target.manifest.item_settings
    if struct is None:
        raise SettingsError({"type": f"South type '{target.manifest.id}' has no items"})
    return [field.encode_name for field in msgspec.structs.fields(struct)]


@routes.post("/api/south/{id}/items/to-csv")
async def items_to_csv(request: web.Request) -> web.Response:
    """The CSV of items the client holds (not stored yet): multipart ``items`` (JSON array) and ``delimiter``."""
    store = request.app[STORE]
    target = await offload(store.souths.import_target, request.match_info["id"])
    form = await _form(request)
    delimiter = check_delimiter(_text(form, "delimiter", required=False))
    items = _json_array(_text(form, "items", required=True) or "", "items")
    if not all(isinstance(item, dict) for item in items):
        raise SettingsError({"items": "every item must be a JSON object"})
    keys = _settings_keys(target)
    assert target.manifest.item_settings is not None
    shape = secret_shape(target.manifest.item_settings)
    shown = [{**item, "settings": blank(item.get("settings") or {}, shape)} for item in items]
    return _csv_response(to_csv(shown, keys, delimiter))


async def _export(request: web.Request, delimiter: str | None) -> web.Response:
    store, south_id = request.app[STORE], request.match_info["id"]
    delimiter = check_delimiter(delimiter)
    target = await offload(store.souths.import_target, south_id)
    if target.south_id is None:
        raise SettingsError({"id": f"'{south_id}' is a South type: export takes a South connector id"})
    items = await offload(store.souths.list_items, south_id)
    return _csv_response(to_csv(msgspec.to_builtins(items), _settings_keys(target), delimiter))


@routes.get("/api/south/{id}/items/export")
async def export_items_get(request: web.Request) -> web.Response:
    """The South's items as CSV (``?delimiter=``, default ``,``); secret settings empty."""
    return await _export(request, request.query.get("delimiter"))


@routes.post("/api/south/{id}/items/export")
async def export_items(request: web.Request) -> web.Response:
    """Upstream's export: body ``{delimiter}`` (optional)."""
    body: Any = await read_json(request) if (await request.read()).strip() else {}
    if not isinstance(body, dict):
        raise SettingsError({"body": "expected an object {delimiter}"})
    delimiter = body.get("delimiter")
    if delimiter is not None and not isinstance(delimiter, str):
        raise SettingsError({"delimiter": "expected a string"})
    return await _export(request, delimiter)


async def _checked(
    request: web.Request, target: ImportTarget, form: MultiDictProxy[FormValue], current: list[Any] | None
) -> tuple[list[ParsedRow], list[dict[str, Any]], list[dict[str, Any]]]:
    """Parse and check the ``itemsToImport`` CSV of a form: ``(rows, checked items, errors)``."""
    assert target.manifest.item_settings is not None
    delimiter = check_delimiter(_text(form, "delimiter", required=False))
    text = _text(form, "itemsToImport", required=True) or ""
    rows = [parse_row(row, target.manifest.item_settings) for row in read_rows(text, delimiter)]
    existing = None
    if current is not None:
        existing = {
            item["name"]: item["id"] if isinstance(item.get("id"), str) else ""
            for item in current
            if isinstance(item, dict) and isinstance(item.get("name"), str)
        }
    items, errors = await offload(request.app[STORE].souths.check_item_rows, target, rows, existing)
    return rows, items, errors


@routes.post("/api/south/{id}/items/import/check")
async def check_import(request: web.Request) -> web.Response:
    """Check a CSV of items against the South type (and the current items); ``{items, errors}``, nothing stored."""
    target = await offload(request.app[STORE].souths.import_target, request.match_info["id"])
    _settings_keys(target)
    form = await _form(request)
    current_text = _text(form, "currentItems", required=False)
    current = _json_array(current_text, "currentItems") if current_text is not None else None
    _, items, errors = await _checked(request, target, form, current)
    return json_response({"items": items, "errors": errors})


@routes.post("/api/south/{id}/items/import")
async def import_items(request: web.Request) -> web.Response:
    """Create or update items: multipart ``items`` (JSON array) as upstream, or ``itemsToImport`` (CSV); all or none."""
    store, south_id = request.app[STORE], request.match_info["id"]
    await offload(store.connectors.connector_type, "south", south_id)  # 404 for an unknown South
    if request.content_type == "application/json":
        body: Any = await read_json(request)
    else:
        form = await _form(request)
        items_text = _text(form, "items", required=False)
        if items_text is not None:
            body = _json_array(items_text, "items")
        elif "itemsToImport" in form:
            target = await offload(store.souths.import_target, south_id)
            _settings_keys(target)
            rows, _, errors = await _checked(request, target, form, None)
            if errors:
                raise SettingsError({f"line {e['line']}.{e['field']}": e["error"].split(": ", 1)[-1] for e in errors})
            # The parsed commands, not the checked items: those have their secrets blank.
            body = [row.command for row in rows]
        else:
            raise SettingsError({"items": "required form field missing (or itemsToImport, a CSV)"})
    norths = await offload(store.souths.import_items, south_id, body, actor=actor(request))
    return await reconciled(request, "south", norths)
