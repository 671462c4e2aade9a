"""OIAnalytics models: registration settings and DTO, command types, statuses and permissions (upstream names)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from connectors.manifest import OptionalSecret

RegistrationStatus = Literal["NOT_REGISTERED", "PENDING", "REGISTERED"]
CommandStatus = Literal["RETRIEVED", "RUNNING", "COMPLETED", "ERRORED", "CANCELLED"]
COMMAND_STATUSES: tuple[str, ...] = ("RETRIEVED", "RUNNING", "COMPLETED", "ERRORED", "CANCELLED")
MessageType = Literal["full-config", "history-queries"]

PERMISSIONS: tuple[str, ...] = (
    "updateVersion",
    "restartEngine",
    "regenerateCipherKeys",
    "updateEngineSettings",
    "updateRegistrationSettings",
    "createScanMode",
    "updateScanMode",
    "deleteScanMode",
    "createIpFilter",
    "updateIpFilter",
    "deleteIpFilter",
    "createCertificate",
    "updateCertificate",
    "deleteCertificate",
    "createHistoryQuery",
    "updateHistoryQuery",
    "deleteHistoryQuery",
    "createOrUpdateHistoryItemsFromCsv",
    "testHistoryNorthConnection",
    "testHistorySouthConnection",
    "testHistorySouthItem",
    "createSouth",
    "updateSouth",
    "deleteSouth",
    "createOrUpdateSouthItemsFromCsv",
    "testSouthConnection",
    "testSouthItem",
    "createNorth",
    "updateNorth",
    "deleteNorth",
    "testNorthConnection",
    "setpoint",
    "searchNorthCacheContent",
    "getNorthCacheFileContent",
    "updateNorthCacheContent",
    "searchHistoryCacheContent",
    "getHistoryCacheFileContent",
    "updateHistoryCacheContent",
    "createCustomTransformer",
    "updateCustomTransformer",
    "deleteCustomTransformer",
    "testCustomTransformer",
)
"""The 42 ``commandPermissions`` keys, in upstream's order."""

# Command type → the permission it needs (upstream's ``checkCommandPermission``).
COMMAND_PERMISSIONS: dict[str, str] = {
    "update-version": "updateVersion",
    "restart-engine": "restartEngine",
    "regenerate-cipher-keys": "regenerateCipherKeys",
    "update-engine-settings": "updateEngineSettings",
    "update-engine-general": "updateEngineSettings",
    "update-engine-web-server": "updateEngineSettings",
    "update-engine-proxy": "updateEngineSettings",
    "update-engine-logger": "updateEngineSettings",
    "update-registration-settings": "updateRegistrationSettings",
    "create-scan-mode": "createScanMode",
    "update-scan-mode": "updateScanMode",
    "delete-scan-mode": "deleteScanMode",
    "create-ip-filter": "createIpFilter",
    "update-ip-filter": "updateIpFilter",
    "delete-ip-filter": "deleteIpFilter",
    "create-certificate": "createCertificate",
    "update-certificate": "updateCertificate",
    "delete-certificate": "deleteCertificate",
    "create-south": "createSouth",
    "update-south": "updateSouth",
    "delete-south": "deleteSouth",
    "test-south-connection": "testSouthConnection",
    "test-south-item": "testSouthItem",
    "create-or-update-south-items-from-csv": "createOrUpdateSouthItemsFromCsv",
    "create-north": "createNorth",
    "update-north": "updateNorth",
    "delete-north": "deleteNorth",
    "test-north-connection": "testNorthConnection",
    "test-transformer": "testNorthConnection",
    "create-history-query": "createHistoryQuery",
    "update-history-query": "updateHistoryQuery",
    "delete-history-query": "deleteHistoryQuery",
    "update-history-query-status": "updateHistoryQuery",
    "test-history-query-north-connection": "testHistoryNorthConnection",
    "test-history-query-south-connection": "testHistorySouthConnection",
    "test-history-query-south-item": "testHistorySouthItem",
    "create-or-update-history-query-south-items-from-csv": "createOrUpdateHistoryItemsFromCsv",
    "setpoint": "setpoint",
    "search-north-cache-content": "searchNorthCacheContent",
    "get-north-cache-file-content": "getNorthCacheFileContent",
    "update-north-cache-content": "updateNorthCacheContent",
    "search-history-cache-content": "searchHistoryCacheContent",
    "get-history-cache-file-content": "getHistoryCacheFileContent",
    "update-history-cache-content": "updateHistoryCacheContent",
    "create-custom-transformer": "createCustomTransformer",
    "update-custom-transformer": "updateCustomTransformer",
    "delete-custom-transformer": "deleteCustomTransformer",
    "test-custom-transformer": "testCustomTransformer",
}
COMMAND_TYPES: frozenset[str] = frozenset(COMMAND_PERMISSIONS)

# Wire field → local column of the command row (echoed back in acknowledgements under the local name).
ID_FIELDS: tuple[tuple[str, str], ...] = (
    ("scanModeId", "scan_mode_id"),
    ("ipFilterId", "ip_filter_id"),
    ("certificateId", "certificate_id"),
    ("southConnectorId", "south_connector_id"),
    ("northConnectorId", "north_connector_id"),
    ("historyQueryId", "history_query_id"),
    ("itemId", "item_id"),
    ("transformerId", "transformer_id"),
)

Interval = Annotated[int, msgspec.Meta(ge=1, le=86_400)]


class CommandPermissions(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """``commandPermissions``: every one of the 42 keys is required (upstream's validation)."""

    update_version: bool
    restart_engine: bool
    regenerate_cipher_keys: bool
    update_engine_settings: bool
    update_registration_settings: bool
    create_scan_mode: bool
    update_scan_mode: bool
    delete_scan_mode: bool
    create_ip_filter: bool
    update_ip_filter: bool
    delete_ip_filter: bool
    create_certificate: bool
    update_certificate: bool
    delete_certificate: bool
    create_history_query: bool
    update_history_query: bool
    delete_history_query: bool
    create_or_update_history_items_from_csv: bool
    test_history_north_connection: bool
    test_history_south_connection: bool
    test_history_south_item: bool
    create_south: bool
    update_south: bool
    delete_south: bool
    create_or_update_south_items_from_csv: bool
    test_south_connection: bool
    test_south_item: bool
    create_north: bool
    update_north: bool
    delete_north: bool
    test_north_connection: bool
    setpoint: bool
    search_north_cache_content: bool
    get_north_cache_file_content: bool
    update_north_cache_content: bool
    search_history_cache_content: bool
    get_history_cache_file_content: bool
    update_history_cache_content: bool
    create_custom_transformer: bool
    update_custom_transformer: bool
    delete_custom_transformer: bool
    test_custom_transformer: bool


def all_permissions(value: bool = True) -> dict[str, bool]:
    """Every permission set to ``value`` (the default of a new registration: all granted)."""
    return dict.fromkeys(PERMISSIONS, value)


# What the OpenAPI document states of ``host``: the plain form (a host name or dotted IPv4, a port, a path), so
# that a request built from it is always usable. ``host``'s pattern is only the first check; the URL parse
# after it refuses what no request can go to (``http://0``), which no JSON Schema pattern says whole.
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_LABEL = "[A-Za-z](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?"
HOST_SCHEMA_PATTERN = rf"^https?://(?:{_LABEL}(?:\.{_LABEL})*|(?:{_OCTET}\.){{3}}{_OCTET})(?::[1-9][0-9]{{0,3}})?(?:/[A-Za-z0-9._~/-]*)?$(?!\n)"


class RegistrationSettings(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Body of ``POST /api/oianalytics/register`` and ``PUT /api/oianalytics/registration``.

    An empty ``proxyPassword`` or ``apiGatewayHeaderValue`` keeps the stored one; ``commandPermissions`` left
    out keeps the stored ones (all granted on a new registration). ``PUT`` never changes ``host``.
    """

    host: Annotated[str, msgspec.Meta(min_length=1, pattern=r"^https?://[^\s/]+\S*$(?!\n)")]
    accept_unauthorized: bool
    use_proxy: bool
    proxy_url: str | None = None
    proxy_username: str | None = None
    proxy_password: OptionalSecret = None
    use_api_gateway: bool
    api_gateway_header_key: str | None = None
    api_gateway_header_value: OptionalSecret = None
    api_gateway_base_endpoint: str | None = None
    command_refresh_interval: Interval = 60
    command_retry_interval: Interval = 5
    message_retry_interval: Interval = 5
    command_permissions: CommandPermissions | None = None


class RegistrationDTO(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """``GET /api/oianalytics/registration``: secrets (token, keys, passwords) never appear."""

    id: str
    host: str
    status: RegistrationStatus
    activation_code: str | None
    activation_date: str | None
    activation_expiration_date: str | None
    check_url: str | None
    use_proxy: bool
    proxy_url: str | None
    proxy_username: str | None
    use_api_gateway: bool
    api_gateway_header_key: str | None
    api_gateway_base_endpoint: str | None
    accept_unauthorized: bool
    command_refresh_interval: int
    command_retry_interval: int
    message_retry_interval: int
    command_permissions: dict[str, bool]
    public_cipher_key: str | None
    created_at: str
    updated_at: str


class CommandDTO(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=False):
    """A stored command as ``GET /api/oianalytics/commands/search`` answers it."""

    id: str
    type: str
    status: CommandStatus
    ack: bool
    target_version: str
    retrieved_date: str
    completed_date: str | None
    result: str | None
    command_content: Any = None
