"""Messages to OIAnalytics: the persistent queue and the payloads (``full-config``, ``history-queries``).

Only the message type is queued (at most one PENDING per type); the payload is built from the current
configuration when it is sent, so a burst of changes sends one message. Messages go one at a time, oldest
first: success → COMPLETED; an answer whose text holds ``Bad Request`` → ERRORED and dropped (upstream's
rule); anything else → the same message again after ``messageRetryInterval`` seconds, as long as it takes.
Secrets never leave: connector settings come from the API form (every secret blank) and the engine's
passwords are blanked as upstream does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import msgspec
import structlog

from connectors.common.oianalytics import OIAConnection, OIAHttpError
from connectors.errors import ConnectorError, SettingsError
from engine.config.models import STANDARD_TRANSFORMERS
from engine.config.store import ConfigStore
from engine.info import EngineInfo
from engine.oianalytics.registration import os_and_arch
from engine.oianalytics.repository import OIAnalyticsRepository
from engine.oianalytics.util import Reachability, wait_event
from engine.version import engine_version

log = structlog.get_logger(__name__)

FULL_CONFIG = "full-config"
HISTORY_QUERIES = "history-queries"
ENDPOINTS = {
    FULL_CONFIG: "/api/oianalytics/oibus/configuration",
    HISTORY_QUERIES: "/api/oianalytics/oibus/configuration/history-query",
}


def _audited(dto: dict[str, Any], *, internal_id: bool = True) -> dict[str, Any]:
    """Upstream's audit fields of an entity sent to OIAnalytics (``oIBusInternalId``, ``oIBusCreatedBy``...)."""
    audit: dict[str, Any] = {"oIBusInternalId": dto["id"]} if internal_id else {"id": dto["id"]}
    audit.update(
        oIBusCreatedBy=(dto.get("createdBy") or {}).get("id"),
        oIBusUpdatedBy=(dto.get("updatedBy") or {}).get("id"),
        oIBusCreatedAt=dto.get("createdAt"),
        oIBusUpdatedAt=dto.get("updatedAt"),
    )
    return audit


def _south(dto: dict[str, Any]) -> dict[str, Any]:
    items = []
    for item in dto["items"]:
        group = item.get("group") or {}
        items.append(
            {
                **_audited(item, internal_id=False),
                "name": item["name"],
                "enabled": item["enabled"],
                "scanModeId": (item.get("scanMode") or {}).get("id"),
                "scanModeName": (item.get("scanMode") or {}).get("name"),
                "groupId": group.get("id"),
                "groupName": group.get("name"),
                "settings": item["settings"],
                **{
                    key: item.get(key)
                    for key in (
                        "syncWithGroup",
                        "maxReadInterval",
                        "readDelay",
                        "startTimeOffset",
                        "endTimeOffset",
                        "recoveryStrategy",
                    )
                },
            }
        )
    groups = [
        {
            "id": group["id"],
            "standardSettings": {
                "name": group["standardSettings"]["name"],
                "scanModeId": group["standardSettings"]["scanMode"]["id"],
            },
            "historySettings": group["historySettings"],
        }
        for group in dto["groups"]
    ]
    settings = {key: dto[key] for key in ("type", "name", "description", "enabled", "settings")}
    return {**_audited(dto), "type": dto["type"], "settings": {**settings, "items": items, "groups": groups}}


def _north(dto: dict[str, Any]) -> dict[str, Any]:
    transformers = [
        {
            "id": rule["id"],
            "transformerId": rule["transformer"]["id"],
            "source": rule["source"],
            "options": rule["options"],
        }
        for rule in dto["transformers"]
    ]
    settings = {key: dto[key] for key in ("type", "name", "description", "enabled", "settings", "caching")}
    return {**_audited(dto), "type": dto["type"], "settings": {**settings, "transformers": transformers}}


SCAN_MODE_SETTINGS = ("name", "description", "type", "cron", "interval", "activationWindow")
"""A scan mode's ``settings`` in the full configuration: its command fields (v3.10 adds the last three)."""


def full_config(store: ConfigStore, repo: OIAnalyticsRepository, info: EngineInfo) -> dict[str, Any]:
    """The ``full-config`` payload (``OIBusFullConfigurationCommandDTO``), secrets blanked."""
    return {
        "engine": _full_engine(store, info),
        "registration": _full_registration(repo),
        "scanModes": [
            {**_audited(mode), "settings": {key: mode[key] for key in SCAN_MODE_SETTINGS}}
            for mode in msgspec.to_builtins(store.scan_modes.list_scan_modes())
        ],
        "ipFilters": [
            {**_audited(entry), "settings": {key: entry[key] for key in ("description", "address")}}
            for entry in msgspec.to_builtins(store.ip_filters.list_ip_filters())
        ],
        "certificates": [
            {
                **_audited(certificate),
                "settings": {
                    key: certificate[key] for key in ("name", "description", "publicKey", "certificate", "expiry")
                },
            }
            for certificate in msgspec.to_builtins(store.certificates.list_certificates())
        ],
        "southConnectors": [
            _south(msgspec.to_builtins(store.souths.south_dto(light.id))) for light in store.souths.list_souths()
        ],
        "northConnectors": [
            _north(msgspec.to_builtins(store.norths.north_dto(light.id))) for light in store.norths.list_norths()
        ],
        "users": [
            {
                **_audited(user),
                "settings": {
                    key: user.get(key) for key in ("login", "firstName", "lastName", "email", "language", "timezone")
                },
            }
            for user in _all_users(store)
        ],
        "transformers": _full_transformers(),
    }


def _full_engine(store: ConfigStore, info: EngineInfo) -> dict[str, Any]:
    engine = msgspec.to_builtins(store.engine_settings_dto())
    proxy = engine["proxyServer"]
    proxy["password"] = None
    proxy["forward"]["password"] = None
    engine["logger"]["loki"]["password"] = ""
    operating_system, architecture = os_and_arch()
    return {
        **_audited(engine),
        "name": engine["general"]["name"],
        "softwareVersion": engine_version(),
        "launcherVersion": info.launcher_version,
        "architecture": architecture,
        "operatingSystem": operating_system,
        "dataFolder": str(info.data_directory),
        "binaryFolder": str(info.binary_directory),
        "ignoreIpFilters": info.ignore_ip_filters,
        "ignoreRemoteUpdate": info.ignore_remote_update,
        "settings": {key: engine[key] for key in ("general", "webServer", "proxyServer", "logger")},
    }


def _full_registration(repo: OIAnalyticsRepository) -> dict[str, Any]:
    registration = repo.registration()
    return {
        "oIBusInternalId": registration.id,
        "oIBusCreatedBy": "system",
        "oIBusUpdatedBy": "system",
        "oIBusCreatedAt": registration.created_at,
        "oIBusUpdatedAt": registration.updated_at,
        "publicKey": registration.public_key,
        "settings": {
            "commandRefreshInterval": registration.command_refresh_interval,
            "commandRetryInterval": registration.command_retry_interval,
            "messageRetryInterval": registration.message_retry_interval,
            "commandPermissions": registration.command_permissions,
        },
    }


def _all_users(store: ConfigStore) -> list[dict[str, Any]]:
    users: list[dict[str, Any]] = []
    page = 0
    while True:
        found = store.users.search_users(page=page)
        users += [msgspec.to_builtins(user) for user in found.content]
        page += 1
        if page >= found.total_pages:
            return users


def _full_transformers() -> list[dict[str, Any]]:
    return [
        {
            "oIBusInternalId": transformer.id,
            "type": "standard",
            "settings": {
                "functionName": transformer.function_name,
                "inputType": transformer.input_type,
                "outputType": transformer.output_type,
            },
            "manifest": {"type": "object", "key": "options", "attributes": []},
        }
        for transformer in STANDARD_TRANSFORMERS.values()
    ]


def history_queries(store: ConfigStore) -> dict[str, Any]:
    """The ``history-queries`` payload: the complete set of history queries, every secret blank."""
    found = []
    for light in store.history_queries.list_history_queries():
        dto = msgspec.to_builtins(store.history_queries.history_query_dto(light.id))
        settings = {key: dto[key] for key in ("name", "description", "status", "southType", "southSettings",
                                              "queryTimeRange", "northType", "northSettings", "caching")}  # fmt: skip
        settings["items"] = [
            {"id": item["id"], **_internal(item), **{key: item[key] for key in ("name", "enabled", "settings")}}
            for item in dto["items"]
        ]
        settings["northTransformers"] = [
            {
                "id": rule["id"],
                "transformerId": rule["transformer"].get("id"),
                "options": rule["options"],
                "items": [item for item in settings["items"] if item["id"] in {ref["id"] for ref in rule["items"]}],
            }
            for rule in dto["northTransformers"]
        ]
        found.append({"oIBusInternalId": dto["id"], **_internal(dto), "settings": settings})
    return {"historyQueries": found}


def _internal(dto: dict[str, Any]) -> dict[str, Any]:
    """Upstream's audit fields of a message entry."""
    return {
        "oIBusCreatedBy": (dto.get("createdBy") or {}).get("id"),
        "oIBusUpdatedBy": (dto.get("updatedBy") or {}).get("id"),
        "oIBusCreatedAt": dto.get("createdAt"),
        "oIBusUpdatedAt": dto.get("updatedAt"),
    }


class MessageQueue:
    """Sends the queued messages (see the module docstring); ``run`` loops until cancelled."""

    def __init__(
        self,
        repo: OIAnalyticsRepository,
        build: Callable[[str], dict[str, Any]],
        connection: Callable[[], OIAConnection | None],
    ) -> None:
        self.repo = repo
        self.build = build
        self.connection = connection
        self._wake = asyncio.Event()
        self._reach = Reachability("messages")

    def queue(self, message_type: str) -> None:
        """Queue a message (only while registered; one PENDING per type is enough)."""
        if not self.repo.registration().registered:
            return
        if self.repo.queue_message(message_type):
            log.debug("oianalytics_message_queued", type=message_type)
        self._wake.set()

    async def run(self) -> None:
        """Send pending messages one at a time, oldest first."""
        while True:
            self._wake.clear()
            registration = self.repo.registration()
            found = self.repo.next_message() if registration.registered else None
            target = self.connection()
            if found is None or target is None:
                await self._wake.wait()
                continue
            message_id, message_type = found
            if not await self.send(target, message_id, message_type):
                await wait_event(self._wake, registration.message_retry_interval)

    async def send(self, target: OIAConnection, message_id: str, message_type: str) -> bool:
        """Send one message; False when it must be tried again later."""
        endpoint = ENDPOINTS.get(message_type)
        if endpoint is None:
            await asyncio.to_thread(self.repo.finish_message, message_id, f"unknown message type {message_type}")
            return True
        payload = await asyncio.to_thread(self.build, message_type)
        try:
            await target.request("PUT", endpoint, json=payload)
        except OIAHttpError as err:
            if "Bad Request" in str(err):
                await asyncio.to_thread(self.repo.finish_message, message_id, str(err))
                log.warning("oianalytics_message_refused", type=message_type, error=str(err))
                return True
            self._reach.failed(err)
            return False
        except (ConnectorError, SettingsError) as err:
            self._reach.failed(err)
            return False
        self._reach.succeeded()
        await asyncio.to_thread(self.repo.finish_message, message_id)
        log.debug("oianalytics_message_sent", type=message_type)
        return True
