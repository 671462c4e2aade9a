"""What each OIAnalytics command does: one handler per command type, in one table (``HANDLERS``).

Configuration commands go through the same store methods as the REST API and the same runtime calls
(reconcile, reload scan modes, engine settings changed), so a bad payload fails the command with the
store's ``SettingsError`` naming the field. Secrets inside connector payloads arrive RSA-encrypted and are
decrypted with the registration's private key before the store encrypts them at rest. History-query commands
live in ``engine.oianalytics.history_handlers``, custom transformer ones in ``transformer_handlers``.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import msgspec
import structlog

from connectors.common.oianalytics import OIAConnection
from connectors.errors import ConnectorError, SettingsError
from engine.cache.north.operations import CacheContentUpdateCommand
from engine.cache.north.types import format_instant
from engine.config.crypto import secret_shape
from engine.config.errors import RefusedError
from engine.config.store import ConfigStore
from engine.config.validation import convert
from engine.history_query.runs import HistoryRuns
from engine.oianalytics import transformer_handlers
from engine.oianalytics.cipher import Decryptor, generate_key_pair
from engine.oianalytics.commands import Handler, LeaveRunning
from engine.oianalytics.history_handlers import HISTORY_HANDLERS
from engine.oianalytics.registration import RegistrationService
from engine.oianalytics.repository import OIAnalyticsRepository, StoredCommand
from engine.runtime import IngestResult, Runtime

log = structlog.get_logger(__name__)

ASSET_ENDPOINT = "/api/oianalytics/oibus/upgrade/asset"
ASSET_TIMEOUT_S = 900.0
CACHE_TIMEOUT_S = 60.0
PREVIEW_BYTES = 2 * 1024 * 1024
NOT_SUPPORTED = "is not supported by this version of OIBus"


class AgentRuntime(Runtime, Protocol):
    """The engine as the agent sees it: the API's runtime plus setpoint delivery."""

    async def ingest_setpoints(self, setpoints_json: bytes, count: int, *, north_ids: list[str]) -> IngestResult:
        """Route setpoints (``[{reference, value}]``) to these Norths; returns once they stored or refused them."""
        ...


class StageUpgrade(Protocol):
    """``engine.upgrade.stage_upgrade``: verify and stage a bundle for the launcher (raises when refused)."""

    def __call__(self, data_dir: Path, bundle: Path, *, command_id: str | None = None) -> str:
        """Stage ``bundle``; returns the version staged."""
        ...


@dataclass(slots=True)
class CommandContext:
    """Everything a handler may use."""

    repo: OIAnalyticsRepository
    store: ConfigStore
    runtime: AgentRuntime
    registration: RegistrationService
    data_dir: Path
    connection: Callable[[], OIAConnection | None]
    config_changed: Callable[[], None]
    request_exit: Callable[[], Awaitable[None]]
    ignore_remote_update: bool = False
    launcher_version: str = ""
    key_size: int = 4096
    stage_upgrade: StageUpgrade | None = None
    """A test double of ``engine.upgrade.stage_upgrade``; None imports the real one when needed."""
    after_command: Callable[[], Awaitable[None]] | None = field(default=None)
    """Set by a handler to run once its status was reported (restart, upgrade)."""
    history: HistoryRuns | None = None
    """The engine's history-query runs (None: this runtime runs none, history commands are refused)."""
    history_changed: Callable[[], None] = field(default=lambda: None)
    """The history queries changed: OIAnalytics gets a new history-queries message."""

    def decryptor(self) -> Decryptor:
        """Decrypts with the current private key."""
        return Decryptor(self.repo.registration().private_key)


def _content(command: StoredCommand) -> dict[str, Any]:
    if not isinstance(command.content, dict):
        raise SettingsError({"commandContent": f"expected an object, got {type(command.content).__name__}"})
    return command.content


def _id(command: StoredCommand, name: str) -> str:
    value = command.ids.get(name)
    if not isinstance(value, str) or not value:
        raise SettingsError({name: "required"})
    return value


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def not_supported(what: str) -> Handler:
    """A handler for a feature this version lacks: ERRORED, never silently dropped."""

    async def handler(ctx: CommandContext, command: StoredCommand) -> str:
        raise RefusedError(f"{what} {NOT_SUPPORTED} (command {command.type})")

    return handler


# --- Engine and registration ------------------------------------------------------------------------------


def _engine_settings(section: str | None, result: str) -> Handler:
    """``update-engine-*``: one section of the engine settings (``None``: the 3.8 whole-settings command)."""

    async def handler(ctx: CommandContext, command: StoredCommand) -> str:
        content = _content(command)
        body = {section: content} if section else content
        logger = body.get("logger") or body.get("logParameters")
        loki = logger.get("loki") if isinstance(logger, dict) else None
        if isinstance(loki, dict) and loki.get("password"):
            loki["password"] = ctx.decryptor().decrypt(loki["password"], "loki.password")
        await asyncio.to_thread(ctx.store.update_engine_settings, body)
        await ctx.runtime.engine_settings_changed()
        ctx.config_changed()
        return result

    return handler


async def update_registration_settings(ctx: CommandContext, command: StoredCommand) -> str:
    """Intervals and permissions from OIAnalytics; host, proxy and gateway stay as they are locally."""
    content = _content(command)
    current = ctx.repo.registration()
    body = {
        **msgspec.to_builtins(current.to_dto()),
        "proxyPassword": "",
        "apiGatewayHeaderValue": "",
        "commandRefreshInterval": content.get("commandRefreshInterval"),
        "commandRetryInterval": content.get("commandRetryInterval"),
        "messageRetryInterval": content.get("messageRetryInterval"),
        "commandPermissions": content.get("commandPermissions"),
    }
    if body["commandPermissions"] is None:
        raise SettingsError({"commandPermissions": "required (all 42 permissions)"})
    await ctx.registration.update(body, from_oianalytics=True)
    return "Registration settings updated successfully"


async def regenerate_cipher_keys(ctx: CommandContext, command: StoredCommand) -> str:
    """A new RSA pair; the full-config message tells OIAnalytics the new public key."""
    public_key, private_key = await asyncio.to_thread(generate_key_pair, ctx.key_size)
    await asyncio.to_thread(ctx.repo.replace_keys, public_key, private_key)
    ctx.config_changed()
    return "OIAnalytics keys reloaded"


async def restart_engine(ctx: CommandContext, command: StoredCommand) -> str:
    """Exit once the status is reported; the launcher starts the engine again."""
    ctx.after_command = ctx.request_exit
    return "OIBus restarted"


async def update_version(ctx: CommandContext, command: StoredCommand) -> str:
    """Download the asset from OIAnalytics, have it verified and staged, then exit for the launcher to swap it."""
    if ctx.ignore_remote_update:
        raise RefusedError("OIBus is not set up to execute remote update")
    content = _content(command)
    asset_id = content.get("assetId")
    if not isinstance(asset_id, str) or not asset_id:
        raise SettingsError({"assetId": "required"})
    stage = ctx.stage_upgrade
    if stage is None:
        from engine.upgrade import stage_upgrade  # type: ignore[import-not-found, unused-ignore]

        stage = stage_upgrade
    target = ctx.connection()
    if target is None:
        raise ConnectorError("OIBus not registered in OIAnalytics")
    fd, name = tempfile.mkstemp(prefix="oibus-upgrade-", suffix=".zip", dir=ctx.data_dir)
    os.close(fd)
    bundle = Path(name)
    try:
        size = await target.download(ASSET_ENDPOINT, bundle, params={"assetId": asset_id}, timeout_s=ASSET_TIMEOUT_S)
        log.info("oianalytics_upgrade_downloaded", asset_id=asset_id, size=size)
        try:
            staged = await asyncio.to_thread(stage, ctx.data_dir, bundle, command_id=command.id)
        except Exception as err:  # engine.upgrade.UpgradeRefused, or the bundle could not be read
            raise RefusedError(f"Upgrade refused: {err}") from err
    finally:
        with contextlib.suppress(OSError):
            await asyncio.to_thread(bundle.unlink)
    log.info("oianalytics_upgrade_staged", version=staged, command_id=command.id)
    ctx.after_command = ctx.request_exit
    raise LeaveRunning(staged)


# --- Scan modes and IP filters ---------------------------------------------------------------------------


async def create_scan_mode(ctx: CommandContext, command: StoredCommand) -> str:
    """``create-scan-mode``."""
    await asyncio.to_thread(ctx.store.scan_modes.create_scan_mode, _content(command))
    await ctx.runtime.reload_scan_modes()
    ctx.config_changed()
    return "Scan mode created successfully"


async def update_scan_mode(ctx: CommandContext, command: StoredCommand) -> str:
    """``update-scan-mode``."""
    await asyncio.to_thread(ctx.store.scan_modes.update_scan_mode, _id(command, "scanModeId"), _content(command))
    await ctx.runtime.reload_scan_modes()
    ctx.config_changed()
    return "Scan mode updated successfully"


async def delete_scan_mode(ctx: CommandContext, command: StoredCommand) -> str:
    """``delete-scan-mode``."""
    await asyncio.to_thread(ctx.store.scan_modes.delete_scan_mode, _id(command, "scanModeId"))
    await ctx.runtime.reload_scan_modes()
    ctx.config_changed()
    return "Scan mode deleted successfully"


async def create_certificate(ctx: CommandContext, command: StoredCommand) -> str:
    """``create-certificate``: generate one from ``options`` (upstream's content)."""
    await asyncio.to_thread(ctx.store.certificates.create_certificate, _content(command))
    ctx.config_changed()
    return "Certificate created successfully"


async def update_certificate(ctx: CommandContext, command: StoredCommand) -> str:
    """``update-certificate``: rename, describe, or regenerate (``regenerateCertificate`` + ``options``)."""
    await asyncio.to_thread(ctx.store.certificates.update_certificate, _id(command, "certificateId"), _content(command))
    ctx.config_changed()
    return "Certificate updated successfully"


async def delete_certificate(ctx: CommandContext, command: StoredCommand) -> str:
    """``delete-certificate``."""
    await asyncio.to_thread(ctx.store.certificates.delete_certificate, _id(command, "certificateId"))
    ctx.config_changed()
    return "Certificate deleted successfully"


async def create_ip_filter(ctx: CommandContext, command: StoredCommand) -> str:
    """``create-ip-filter``."""
    await asyncio.to_thread(ctx.store.ip_filters.create_ip_filter, _content(command))
    ctx.config_changed()
    return "IP Filter created successfully"


async def update_ip_filter(ctx: CommandContext, command: StoredCommand) -> str:
    """``update-ip-filter``."""
    await asyncio.to_thread(ctx.store.ip_filters.update_ip_filter, _id(command, "ipFilterId"), _content(command))
    ctx.config_changed()
    return "IP Filter updated successfully"


async def delete_ip_filter(ctx: CommandContext, command: StoredCommand) -> str:
    """``delete-ip-filter``."""
    await asyncio.to_thread(ctx.store.ip_filters.delete_ip_filter, _id(command, "ipFilterId"))
    ctx.config_changed()
    return "IP Filter deleted successfully"


# --- Connectors --------------------------------------------------------------------------------------------


def decrypt_connector(ctx: CommandContext, kind: str, content: dict[str, Any], type_name: Any) -> dict[str, Any]:
    """A copy of a connector command whose settings (and items' settings) secrets are decrypted."""
    manifest = ctx.store.manifests.get(kind, type_name) if isinstance(type_name, str) else None  # type: ignore[arg-type]
    if manifest is None:
        raise SettingsError({"type": f"unknown {kind} type {type_name!r}"})
    decryptor = ctx.decryptor()
    found = dict(content)
    found["settings"] = decryptor.decrypt_secrets(content.get("settings"), secret_shape(manifest.settings))
    items = content.get("items")
    if kind == "south" and manifest.item_settings is not None and isinstance(items, list):
        shape = secret_shape(manifest.item_settings)
        found["items"] = [
            {**item, "settings": decryptor.decrypt_secrets(item.get("settings"), shape, f"items[{index}].settings")}
            if isinstance(item, dict)
            else item
            for index, item in enumerate(items)
        ]
    return found


async def _reconcile_south(ctx: CommandContext, south_id: str, norths: tuple[str, ...] = ()) -> None:
    await ctx.runtime.reconcile_south(south_id)
    for north_id in norths:
        await ctx.runtime.reconcile_north(north_id)


async def create_south(ctx: CommandContext, command: StoredCommand) -> str:
    """``create-south`` (secrets decrypted, then stored as from the API)."""
    content = _content(command)
    body = decrypt_connector(ctx, "south", content, content.get("type"))
    created = await asyncio.to_thread(ctx.store.souths.create_south, body)
    await _reconcile_south(ctx, created.id)
    ctx.config_changed()
    return "South connector created successfully"


async def update_south(ctx: CommandContext, command: StoredCommand) -> str:
    """``update-south``."""
    south_id = _id(command, "southConnectorId")
    content = _content(command)
    body = decrypt_connector(ctx, "south", content, content.get("type"))
    norths = await asyncio.to_thread(ctx.store.souths.update_south, south_id, body)
    await _reconcile_south(ctx, south_id, norths)
    ctx.config_changed()
    return "South connector updated successfully"


async def delete_south(ctx: CommandContext, command: StoredCommand) -> str:
    """``delete-south``."""
    south_id = _id(command, "southConnectorId")
    norths = await asyncio.to_thread(ctx.store.souths.delete_south, south_id)
    await _reconcile_south(ctx, south_id, norths)
    ctx.config_changed()
    return "South connector deleted successfully"


async def create_north(ctx: CommandContext, command: StoredCommand) -> str:
    """``create-north``."""
    content = _content(command)
    body = decrypt_connector(ctx, "north", content, content.get("type"))
    created = await asyncio.to_thread(ctx.store.norths.create_north, body)
    await ctx.runtime.reconcile_north(created.id)
    ctx.config_changed()
    return "North connector created successfully"


async def update_north(ctx: CommandContext, command: StoredCommand) -> str:
    """``update-north``."""
    north_id = _id(command, "northConnectorId")
    content = _content(command)
    body = decrypt_connector(ctx, "north", content, content.get("type"))
    await asyncio.to_thread(ctx.store.norths.update_north, north_id, body)
    await ctx.runtime.reconcile_north(north_id)
    ctx.config_changed()
    return "North connector updated successfully"


async def delete_north(ctx: CommandContext, command: StoredCommand) -> str:
    """``delete-north``."""
    north_id = _id(command, "northConnectorId")
    await asyncio.to_thread(ctx.store.norths.delete_north, north_id)
    await ctx.runtime.reconcile_north(north_id)
    ctx.config_changed()
    return "North connector deleted successfully"


def _test_connection(kind: str, id_field: str) -> Handler:
    async def handler(ctx: CommandContext, command: StoredCommand) -> str:
        connector_id = _id(command, id_field)
        content = _content(command)
        stored_type = await asyncio.to_thread(ctx.store.connectors.connector_type, kind, connector_id)  # type: ignore[arg-type]
        body = decrypt_connector(ctx, kind, content, content.get("type") or stored_type)
        settings = await asyncio.to_thread(
            ctx.store.connectors.candidate_settings,
            kind,  # type: ignore[arg-type]
            connector_id,
            body.get("settings"),
            type_name=content.get("type"),
        )
        result = await ctx.runtime.worker_request(kind, connector_id, "test_connection", {"settings": settings})
        return _json(result if isinstance(result, dict) and "items" in result else {"items": []})

    return handler


async def test_south_item(ctx: CommandContext, command: StoredCommand) -> str:
    """``test-south-item``: read the item once in the South's worker; the result is what it produced."""
    south_id = _id(command, "southConnectorId")
    content = _content(command)
    given = content.get("southCommand")
    south: dict[str, Any] = given if isinstance(given, dict) else {}
    item = content.get("itemCommand")
    if not isinstance(item, dict):
        raise SettingsError({"itemCommand": "required"})
    stored_type = await asyncio.to_thread(ctx.store.connectors.connector_type, "south", south_id)
    decrypted = decrypt_connector(ctx, "south", {**south, "items": [item]}, south.get("type") or stored_type)
    item_id = command.ids.get("itemId") or item.get("id") or None
    params: dict[str, Any] = {
        "item": {
            "id": item_id,
            "name": item.get("name") or "test",
            "settings": await asyncio.to_thread(
                ctx.store.souths.candidate_item_settings,
                south_id,
                decrypted["items"][0].get("settings"),
                item_id=item_id,
            ),
        }
    }
    if south.get("settings") is not None:
        params["settings"] = await asyncio.to_thread(
            ctx.store.connectors.candidate_settings, "south", south_id, decrypted["settings"]
        )
    history = (content.get("testingSettings") or {}).get("history") if isinstance(content, dict) else None
    if isinstance(history, dict):
        params["startTime"], params["endTime"] = history.get("startTime"), history.get("endTime")
    started = time.monotonic()
    raw = await ctx.runtime.worker_request("south", south_id, "test_item", params, timeout_s=120.0)
    elapsed_ms = round((time.monotonic() - started) * 1000)
    return _json({"raw": raw, "transformed": None, "connectionDuration": 0, "queryDuration": elapsed_ms})


_CSV_COLUMNS = {
    "name": "name",
    "enabled": "enabled",
    "scanMode": "scanModeName",
    "group": "groupName",
    "syncWithGroup": "syncWithGroup",
    "maxReadInterval": "maxReadInterval",
    "readDelay": "readDelay",
    "startTimeOffset": "startTimeOffset",
    "endTimeOffset": "endTimeOffset",
    "recoveryStrategy": "recoveryStrategy",
}


def _csv_value(text: str) -> Any:
    """A CSV cell: JSON when it is JSON (numbers, booleans, objects), else the text itself."""
    if text == "":
        return None
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        return text


def parse_items_csv(ctx: CommandContext, south_type: str, content: str, delimiter: str) -> list[dict[str, Any]]:
    """Item commands from upstream's CSV (``name, enabled, scanMode, group, ..., settings_<key>``)."""
    first_line = content.split("\n", 1)[0]
    try:
        detected = csv.Sniffer().sniff(first_line, delimiters=",;\t|").delimiter
    except csv.Error:
        detected = delimiter
    if detected != delimiter:
        raise SettingsError(
            {"delimiter": f'The entered delimiter "{delimiter}" does not correspond to the file delimiter "{detected}"'}
        )
    manifest = ctx.store.manifests.get("south", south_type)
    items: list[dict[str, Any]] = []
    errors: dict[str, str] = {}
    for index, row in enumerate(csv.DictReader(io.StringIO(content), delimiter=delimiter)):
        item: dict[str, Any] = {}
        settings: dict[str, Any] = {}
        for column, text in row.items():
            if column is None:
                continue
            if column.startswith("settings_"):
                settings[column.removeprefix("settings_")] = _csv_value(text or "")
            elif column in _CSV_COLUMNS:
                value = _csv_value(text or "")
                item[_CSV_COLUMNS[column]] = str(value) if column in ("name", "scanMode", "group") else value
        settings = {key: value for key, value in settings.items() if value is not None}
        if manifest is not None and manifest.item_settings is not None:
            try:
                typed = msgspec.convert(settings, manifest.item_settings, strict=False)
                settings = msgspec.to_builtins(typed)
            except msgspec.ValidationError as err:
                errors[f"csvContent[{index + 1}].settings"] = str(err)
        item.setdefault("enabled", True)
        items.append({**item, "settings": settings})
    if errors:
        raise SettingsError(errors)
    return items


async def import_south_items(ctx: CommandContext, command: StoredCommand) -> str:
    """``create-or-update-south-items-from-csv``: items by name are updated, new ones created."""
    south_id = _id(command, "southConnectorId")
    content = _content(command)
    delimiter, text = content.get("delimiter"), content.get("csvContent")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise SettingsError({"delimiter": "one character required"})
    if not isinstance(text, str):
        raise SettingsError({"csvContent": "required"})
    south = msgspec.to_builtins(await asyncio.to_thread(ctx.store.souths.south_dto, south_id))
    imported = parse_items_csv(ctx, south["type"], text, delimiter)
    existing = {item["name"]: item for item in south["items"]}
    kept = [] if content.get("deleteItemsNotPresent") else [i for i in south["items"] if i["name"] not in imported]
    names = {item["name"] for item in imported}
    kept = [item for item in kept if item["name"] not in names]
    merged = kept + [{**item, "id": (existing.get(item["name"]) or {}).get("id")} for item in imported]
    body = {key: south[key] for key in ("name", "type", "description", "enabled", "settings")}
    norths = await asyncio.to_thread(ctx.store.souths.update_south, south_id, {**body, "items": merged})
    await _reconcile_south(ctx, south_id, norths)
    ctx.config_changed()
    return f"{len(imported)} items imported on South connector {south['name']}"


# --- Setpoints and North caches ---------------------------------------------------------------------------


async def setpoint(ctx: CommandContext, command: StoredCommand) -> str:
    """Route ``[{reference, value}]`` to the North as content type ``setpoint``; COMPLETED once it stored them."""
    north_id = _id(command, "northConnectorId")
    content = command.content
    if isinstance(content, dict) and "pointId" in content:
        # The declared wire shape ({pointId, value}); upstream caches it unusable, we map it to the array form.
        content = [{"reference": content["pointId"], "value": content.get("value")}]
    setpoints = convert(content, list[dict[str, Any]], path="commandContent")
    for index, entry in enumerate(setpoints):
        if not isinstance(entry.get("reference"), str) or "value" not in entry:
            raise SettingsError({f"commandContent[{index}]": "expected {reference, value}"})
    north = await asyncio.to_thread(ctx.store.norths.north_dto, north_id)
    if not north.enabled:
        raise RefusedError(f'North connector "{north_id}" disabled')
    payload = msgspec.json.encode(setpoints)
    outcome = await ctx.runtime.ingest_setpoints(payload, len(setpoints), north_ids=[north_id])
    if outcome.refused:
        raise RefusedError(f"North connector {north_id} did not store the setpoints: {outcome.refused[north_id]}")
    if north_id not in outcome.stored:
        raise RefusedError(
            f"North connector {north_id} takes no setpoints (no oianalytics-setpoint rule and not a setpoint type)"
        )
    return f"Setpoint {payload.decode()} properly sent into the cache of {north_id}"


def _instant(value: Any, name: str) -> str | None:
    if value in (None, ""):
        return None
    try:
        instant = datetime.fromisoformat(str(value))
    except ValueError as err:
        raise SettingsError({name: f"expected an ISO-8601 instant, got {value!r}"}) from err
    return format_instant(instant if instant.tzinfo else instant.replace(tzinfo=UTC))


def cache_search_params(content: dict[str, Any]) -> dict[str, Any]:
    """The cache search of a ``search-*-cache-content`` command (the flat and nested ``searchParams`` forms)."""
    nested = content.get("searchParams")
    search = {
        **(nested if isinstance(nested, dict) else {}),
        **{k: v for k, v in content.items() if k != "searchParams"},
    }
    maximum = search.get("maxNumberOfFilesReturned", 1000)
    if not isinstance(maximum, int) or maximum < 0:
        raise SettingsError({"maxNumberOfFilesReturned": "expected a non-negative integer"})
    return {
        "nameContains": search.get("nameContains") or None,
        "start": _instant(search.get("start"), "start"),
        "end": _instant(search.get("end"), "end"),
        "maxNumberOfFilesReturned": maximum,
    }


def cache_search_result(found: Any, metrics: dict[str, Any]) -> str:
    """The answer of a cache search: the North's metrics and each folder's entries with their metadata."""
    metadata_keys = ("contentFile", "contentSize", "numberOfElement", "createdAt", "contentType")
    result: dict[str, Any] = {"metrics": metrics, "searchDate": format_instant(datetime.now(UTC))}
    for folder in ("cache", "error", "archive"):
        result[folder] = [
            {"filename": entry["filename"], "metadata": {key: entry.get(key) for key in metadata_keys}}
            for entry in (found or {}).get(folder, [])
        ]
    return _json(result)


async def search_north_cache(ctx: CommandContext, command: StoredCommand) -> str:
    """``search-north-cache-content`` (the flat and the nested ``searchParams`` forms both read)."""
    north_id = _id(command, "northConnectorId")
    params = cache_search_params(_content(command))
    found = await ctx.runtime.worker_request("north", north_id, "cache_search", params, timeout_s=CACHE_TIMEOUT_S)
    return cache_search_result(found, ctx.runtime.connector_metrics().get(f"north:{north_id}", {}))


_CONTENT_TYPES = {".csv": "csv", ".xml": "xml", ".json": "json"}


def cache_file_params(content: dict[str, Any]) -> dict[str, Any]:
    """The entry a ``get-*-cache-file-content`` command asks for."""
    folder, filename = content.get("folder", "cache"), content.get("filename")
    if folder not in ("cache", "error", "archive"):
        raise SettingsError({"folder": "expected cache, error or archive"})
    if not isinstance(filename, str) or not filename:
        raise SettingsError({"filename": "required"})
    return {"folder": folder, "filename": filename, "maxBytes": PREVIEW_BYTES}


def cache_file_result(found: Any, params: dict[str, Any], owner: str) -> str:
    """The answer of a cache file read (its first 2 MiB); ``RefusedError`` when there is no such entry."""
    if found is None:
        raise RefusedError(f"No entry {params['filename']} in the {params['folder']} folder of {owner}")
    logical = str(found["contentFile"])
    data = found["content"]
    return _json(
        {
            "content": data.decode(errors="replace") if isinstance(data, bytes) else str(data),
            "contentFilename": logical,
            "contentType": _CONTENT_TYPES.get(Path(logical).suffix.lower(), "raw"),
            "truncated": bool(found["truncated"]),
            "totalSize": found["contentSize"],
        }
    )


async def get_north_cache_file(ctx: CommandContext, command: StoredCommand) -> str:
    """``get-north-cache-file-content``: the first 2 MiB of one entry."""
    north_id = _id(command, "northConnectorId")
    params = cache_file_params(_content(command))
    found = await ctx.runtime.worker_request("north", north_id, "cache_content", params, timeout_s=CACHE_TIMEOUT_S)
    return cache_file_result(found, params, f"North {north_id}")


async def update_north_cache(ctx: CommandContext, command: StoredCommand) -> str:
    """``update-north-cache-content``: removals then moves, folder by folder."""
    north_id = _id(command, "northConnectorId")
    update = convert(_content(command), CacheContentUpdateCommand, path="commandContent")
    await ctx.runtime.worker_request(
        "north", north_id, "cache_update", msgspec.to_builtins(update), timeout_s=CACHE_TIMEOUT_S
    )
    return "Cache updated successfully"


HANDLERS: dict[str, Handler] = {
    "update-version": update_version,
    "restart-engine": restart_engine,
    "regenerate-cipher-keys": regenerate_cipher_keys,
    "update-engine-settings": _engine_settings(None, "Engine settings updated successfully"),
    "update-engine-general": _engine_settings("general", "Engine name updated successfully"),
    "update-engine-web-server": _engine_settings("webServer", "Engine web server settings updated successfully"),
    "update-engine-proxy": _engine_settings("proxyServer", "Engine proxy settings updated successfully"),
    "update-engine-logger": _engine_settings("logger", "Engine logger settings updated successfully"),
    "update-registration-settings": update_registration_settings,
    "create-scan-mode": create_scan_mode,
    "update-scan-mode": update_scan_mode,
    "delete-scan-mode": delete_scan_mode,
    "create-ip-filter": create_ip_filter,
    "update-ip-filter": update_ip_filter,
    "delete-ip-filter": delete_ip_filter,
    "create-certificate": create_certificate,
    "update-certificate": update_certificate,
    "delete-certificate": delete_certificate,
    "create-south": create_south,
    "update-south": update_south,
    "delete-south": delete_south,
    "test-south-connection": _test_connection("south", "southConnectorId"),
    "test-south-item": test_south_item,
    "create-or-update-south-items-from-csv": import_south_items,
    "create-north": create_north,
    "update-north": update_north,
    "delete-north": delete_north,
    "test-north-connection": _test_connection("north", "northConnectorId"),
    "setpoint": setpoint,
    "search-north-cache-content": search_north_cache,
    "get-north-cache-file-content": get_north_cache_file,
    "update-north-cache-content": update_north_cache,
    **HISTORY_HANDLERS,
    "create-custom-transformer": transformer_handlers.create_custom_transformer,
    "update-custom-transformer": transformer_handlers.update_custom_transformer,
    "delete-custom-transformer": transformer_handlers.delete_custom_transformer,
    "test-custom-transformer": transformer_handlers.test_custom_transformer,
    "test-transformer": transformer_handlers.test_transformer,
}
"""Command type → handler (the history-query ones: ``engine.oianalytics.history_handlers``)."""
