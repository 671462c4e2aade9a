"""Typed configuration models: the DTOs the API returns and the commands it accepts (upstream 3.9 shapes).

Every model is a frozen msgspec Struct with camelCase wire names. Commands are tolerant readers: unknown
fields are ignored, and the store maps the 3.8 spellings (``overlap``, flat engine settings, ``scanMode:
{id}``) onto these before validating. Connector and item ``settings`` are plain JSON objects here; they are
validated against the connector type's manifest by the store.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

import msgspec

# Engine settings mark their secrets as connector settings do: one marker, one secret walk.
from connectors.manifest import OptionalSecret, Secret
from engine.cache.settings import CachingSettings
from engine.routing.transformers import STANDARD
from engine.scheduler.cron import SCHEMA_PATTERN as CRON_PATTERN
from engine.scheduler.timing import ActivationWindow, ScanModeInterval, ScanModeType

T = TypeVar("T")

NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]
# The one place the length limits of operator-chosen text are set: a name is copied into every log line and
# onto every page of the UI, a description is shown beside it; neither has a reason to reach a megabyte.
NAME_MAX_LENGTH = 255
TEXT_MAX_LENGTH = 4096
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=NAME_MAX_LENGTH)]
Text = Annotated[str, msgspec.Meta(max_length=TEXT_MAX_LENGTH)]
# Integers go to SQLite INTEGER columns, which hold 64 bits: anything wider must be refused, not overflow there.
INT64_MAX = 2**63 - 1
Int64 = Annotated[int, msgspec.Meta(ge=-INT64_MAX - 1, le=INT64_MAX)]
NonNegative = Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)]
Positive = Annotated[int, msgspec.Meta(ge=1, le=INT64_MAX)]
Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
ListenPort = Annotated[
    int,
    msgspec.Meta(
        ge=0,
        le=65535,
        description="TCP port to listen on; 0 lets the system pick a free one at each start (the console says which).",
    ),
]

LogLevel = Literal["silent", "error", "warn", "info", "debug", "trace"]
TokenDuration = Literal["1h", "6h", "1d", "3d", "7d", "14d", "30d"]
RecoveryStrategy = Literal["oldest", "newest"]

SUBSCRIPTION_ID = "subscription"
SYSTEM_USER = "system"


class Model(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Base of every configuration model (subclasses repeat ``frozen``/``kw_only`` for mypy's sake)."""


class UserInfo(Model, frozen=True, kw_only=True):
    """Who created or last changed an entity (``system`` for seeded rows)."""

    id: str
    friendly_name: str


class Audited(Model, frozen=True, kw_only=True):
    """Audit fields shared by stored entities."""

    created_by: UserInfo | None = None
    updated_by: UserInfo | None = None
    created_at: str = ""
    updated_at: str = ""


class Page(Model, Generic[T], frozen=True, kw_only=True):
    """One page of a search (page size 50, ``number`` starts at 0)."""

    content: list[T]
    size: int
    number: int
    total_elements: int
    total_pages: int


# --- Engine settings ----------------------------------------------------------------------------------


class GeneralSettings(Model, frozen=True, kw_only=True):
    """``general``: the engine name (Loki label, syslog app name)."""

    name: Name = "OIBus"


class HttpsSettings(Model, frozen=True, kw_only=True):
    """``webServer.https`` (ours: upstream serves plain HTTP only): an HTTPS listener for the API and UI.

    It serves ``certs/cert.pem`` with ``certs/private.pem`` of the data folder, generated self-signed on the
    first start that needs them (replace both with a certificate of your own CA if you have one).
    ``keepHttp: false`` closes the plain HTTP listener of ``webServer.port``. Applied at the next start.
    """

    enabled: bool = False
    port: ListenPort = 2443
    keep_http: bool = True


class WebServerSettings(Model, frozen=True, kw_only=True):
    """``webServer``: HTTP port of the API and UI, the lifetime of login tokens, and HTTPS (ours)."""

    port: ListenPort = 2223
    auth_token_duration: TokenDuration = "7d"
    https: HttpsSettings = HttpsSettings()


class ForwardProxySettings(Model, frozen=True, kw_only=True):
    """``proxyServer.forward``: an upstream proxy the built-in proxy chains to."""

    enabled: bool = False
    url: str | None = None
    username: str | None = None
    password: OptionalSecret = None


class ProxyServerSettings(Model, frozen=True, kw_only=True):
    """``proxyServer``: the built-in HTTP forward proxy."""

    enabled: bool = False
    port: ListenPort = 9000
    username: str | None = None
    password: OptionalSecret = None
    forward: ForwardProxySettings = ForwardProxySettings()


class ConsoleLogSettings(Model, frozen=True, kw_only=True):
    """``logger.console``: ``warn`` by default (upstream: ``silent``).

    A new install then shows the default-password warning and the engine's warnings where it runs;
    upstream's exported settings carry their level and keep it.
    """

    level: LogLevel = "warn"


class FileLogSettings(Model, frozen=True, kw_only=True):
    """``logger.file``: ``maxFileSize`` in MB."""

    level: LogLevel = "info"
    max_file_size: Positive = 50
    number_of_files: Positive = 5


class DatabaseLogSettings(Model, frozen=True, kw_only=True):
    """``logger.database``: 0 logs disables the sink."""

    level: LogLevel = "info"
    max_number_of_logs: NonNegative = 100_000


class LokiLogSettings(Model, frozen=True, kw_only=True):
    """``logger.loki``: ``interval`` in seconds."""

    level: LogLevel = "silent"
    interval: Positive = 60
    address: str = ""
    username: str = ""
    password: Secret = ""


class OiaLogSettings(Model, frozen=True, kw_only=True):
    """``logger.oia``: ``interval`` in seconds."""

    level: LogLevel = "silent"
    interval: Positive = 10


class SyslogLogSettings(Model, frozen=True, kw_only=True):
    """``logger.syslog`` (RFC 5424)."""

    level: LogLevel = "silent"
    host: str = ""
    port: Port = 514
    protocol: Literal["udp4", "tcp"] = "udp4"


class LoggerSettings(Model, frozen=True, kw_only=True):
    """``logger``: one level per sink."""

    console: ConsoleLogSettings = ConsoleLogSettings()
    file: FileLogSettings = FileLogSettings()
    database: DatabaseLogSettings = DatabaseLogSettings()
    loki: LokiLogSettings = LokiLogSettings()
    oia: OiaLogSettings = OiaLogSettings()
    syslog: SyslogLogSettings = SyslogLogSettings()


class EngineSettings(Model, frozen=True, kw_only=True):
    """The editable engine settings (also the body of ``PUT /api/engine``)."""

    general: GeneralSettings = GeneralSettings()
    web_server: WebServerSettings = WebServerSettings()
    proxy_server: ProxyServerSettings = ProxyServerSettings()
    logger: LoggerSettings = LoggerSettings()


class EngineSettingsDTO(Audited, frozen=True, kw_only=True):
    """``GET /api/engine``."""

    id: str
    version: str
    launcher_version: str
    general: GeneralSettings
    web_server: WebServerSettings
    proxy_server: ProxyServerSettings
    logger: LoggerSettings


class WebServerChange(Model, frozen=True, kw_only=True):
    """Answer of ``PUT /api/engine/web-server``."""

    needs_redirect: bool
    new_port: int


# --- Scan modes ---------------------------------------------------------------------------------------


class ScanModeCommand(Model, frozen=True, kw_only=True):
    """Body of ``POST/PUT /api/scan-modes`` (v3.10; a 3.8/3.9 body without ``type`` is a cron)."""

    name: Name
    description: Text = ""
    type: ScanModeType = "cron"
    cron: Annotated[
        str,
        msgspec.Meta(
            description="Six fields, seconds first (`POST /api/scan-modes/verify` checks one), for a `cron` scan "
            "mode; empty for an `interval` one. The pattern is the plain form: ranges and names are accepted too.",
            extra_json_schema={"pattern": rf"^$(?!\n)|{CRON_PATTERN}"},
        ),
    ] = ""
    interval: ScanModeInterval | None = None
    activation_window: ActivationWindow | None = None


class ScanModeDTO(Audited, frozen=True, kw_only=True):
    """A scan mode: a six-field cron with seconds (empty for ``subscription``) or a fixed interval."""

    id: str
    name: str
    description: str
    type: ScanModeType = "cron"
    cron: str
    interval: ScanModeInterval | None = None
    activation_window: ActivationWindow | None = None
    activation_window_expired: bool = False
    """The window's end is past: the scan mode will never tick again (the UI warns)."""


# --- Connectors (what South and North share) ------------------------------------------------------------


class ConnectorCommand(Model, frozen=True, kw_only=True):
    """What the South and North commands start with; ``settings`` are checked against the type's manifest."""

    name: Name
    type: NonEmpty
    description: Text = ""
    enabled: bool = True
    settings: dict[str, Any]


class ConnectorHeaderDTO(Audited, frozen=True, kw_only=True):
    """What every South and North DTO starts with."""

    id: str
    name: str
    type: str
    description: str
    enabled: bool


class ConnectorSettingsDTO(ConnectorHeaderDTO, frozen=True, kw_only=True):
    """A connector's header and settings (secrets blank), without its items, groups or rules (the UI's forms)."""

    settings: dict[str, Any]


# --- South --------------------------------------------------------------------------------------------


class SouthItemCommand(Model, frozen=True, kw_only=True):
    """One item of a South command (``SouthConnectorItemCommandDTO``)."""

    id: str | None = None
    enabled: bool = True
    name: Name
    settings: dict[str, Any]
    scan_mode_id: str | None = None
    scan_mode_name: str | None = None
    group_id: str | None = None
    group_name: str | None = None
    sync_with_group: bool = False
    max_read_interval: NonNegative | None = None
    read_delay: NonNegative | None = None
    start_time_offset: Int64 | None = None
    end_time_offset: Int64 | None = None
    recovery_strategy: RecoveryStrategy | None = None


class GroupStandardSettingsCommand(Model, frozen=True, kw_only=True):
    """``standardSettings`` of a group command: its name and scan mode (by id or name)."""

    name: Name
    scan_mode_id: str | None = None
    scan_mode_name: str | None = None


class GroupHistorySettings(Model, frozen=True, kw_only=True):
    """``historySettings`` of a group (``maxReadInterval`` s, ``readDelay`` and offsets ms)."""

    start_time_offset: Int64 | None = None
    end_time_offset: Int64 | None = None
    max_read_interval: NonNegative | None = None
    read_delay: NonNegative | None = None
    recovery_strategy: RecoveryStrategy | None = None


class SouthGroupCommand(Model, frozen=True, kw_only=True):
    """One group of a South command (``SouthItemGroupCommandDTO``)."""

    id: str | None = None
    standard_settings: GroupStandardSettingsCommand
    history_settings: GroupHistorySettings = GroupHistorySettings()


class SouthCommand(ConnectorCommand, frozen=True, kw_only=True):
    """Body of ``POST/PUT /api/south`` (``SouthConnectorCommandDTO``).

    On update, ``items`` and ``groups`` are the complete sets (missing ones are deleted); leaving a key out
    keeps the stored ones.
    """

    items: list[SouthItemCommand] | msgspec.UnsetType = msgspec.UNSET
    groups: list[SouthGroupCommand] | msgspec.UnsetType = msgspec.UNSET


class SouthGroupLightDTO(Model, frozen=True, kw_only=True):
    """The group an item belongs to."""

    id: str
    name: str
    scan_mode: ScanModeDTO


class SouthItemDTO(Audited, frozen=True, kw_only=True):
    """A South item. ``scanMode`` is the effective one (the group's when the item is in a group)."""

    id: str
    name: str
    enabled: bool
    settings: dict[str, Any]
    scan_mode: ScanModeDTO
    group: SouthGroupLightDTO | None = None
    sync_with_group: bool = False
    max_read_interval: int | None = None
    read_delay: int | None = None
    start_time_offset: Int64 | None = None
    end_time_offset: Int64 | None = None
    recovery_strategy: RecoveryStrategy | None = None


class GroupStandardSettingsDTO(Model, frozen=True, kw_only=True):
    """``standardSettings`` of a stored group."""

    name: str
    scan_mode: ScanModeDTO


class SouthGroupDTO(Audited, frozen=True, kw_only=True):
    """A group of items sharing a scan mode (and, for synced items, history settings)."""

    id: str
    standard_settings: GroupStandardSettingsDTO
    history_settings: GroupHistorySettings


class SouthConnectorLightDTO(ConnectorHeaderDTO, frozen=True, kw_only=True):
    """A South in ``GET /api/south``."""

    state: dict[str, Any] | None = None


class SouthConnectorDTO(ConnectorHeaderDTO, frozen=True, kw_only=True):
    """A South with its settings, groups and items."""

    settings: dict[str, Any]
    groups: list[SouthGroupDTO]
    items: list[SouthItemDTO]
    state: dict[str, Any] | None = None


# --- North --------------------------------------------------------------------------------------------


class ItemRef(Model, frozen=True, kw_only=True):
    """An item a transformer source selects (only ``id`` is read; the rest is informative)."""

    id: NonEmpty
    name: str | None = None
    enabled: bool | None = None


class SouthSource(Model, frozen=True, kw_only=True, tag_field="type", tag="south"):
    """Data from a South: the whole connector, one of its groups, or some of its items."""

    south_id: NonEmpty
    group_id: str | None = None
    items: list[ItemRef] = []


class OIBusApiSource(Model, frozen=True, kw_only=True, tag_field="type", tag="oibus-api"):
    """Data posted to ``/api/content/*`` with this ``dataSourceId``."""

    data_source_id: NonEmpty


class SetpointSource(Model, frozen=True, kw_only=True, tag_field="type", tag="oianalytics-setpoint"):
    """Setpoints sent by OIAnalytics."""


TransformerSource = SouthSource | OIBusApiSource | SetpointSource


class NorthTransformerCommand(Model, frozen=True, kw_only=True):
    """One routing rule of a North (``transformers[]``); ``id`` null creates a new one."""

    id: str | None = None
    source: TransformerSource
    transformer_id: NonEmpty
    options: dict[str, Any] = {}


class StandardTransformerDTO(Model, frozen=True, kw_only=True, tag_field="type", tag="standard"):
    """A built-in transformer."""

    id: str
    function_name: str
    input_type: str
    output_type: str


# --- Custom transformers ---------------------------------------------------------------------------------

INPUT_TYPES = ("any", "time-values", "setpoint")
OUTPUT_TYPES = ("any", "time-values", "opcua", "mqtt", "modbus", "oianalytics")
InputType = Literal["any", "time-values", "setpoint"]
OutputType = Literal["any", "time-values", "opcua", "mqtt", "modbus", "oianalytics"]
TransformerName = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
Timeout = Annotated[int, msgspec.Meta(ge=1, le=600_000, description="Time limit of one run, in ms")]


class CustomTransformerCommand(Model, frozen=True, kw_only=True):
    """Body of ``POST/PUT /api/transformers`` (upstream's ``CustomTransformerCommandDTO``)."""

    type: Literal["custom"] = "custom"
    name: TransformerName
    description: Text | None = ""
    input_type: InputType
    output_type: OutputType
    custom_code: Annotated[str, msgspec.Meta(min_length=1)]
    custom_manifest: dict[str, Any] = {}
    language: Literal["javascript", "typescript"] = "javascript"
    timeout: Timeout = 2000


class CustomTransformerDTO(Audited, frozen=True, kw_only=True, tag_field="type", tag="custom"):
    """A stored custom transformer."""

    id: str
    name: str
    description: str
    input_type: str
    output_type: str
    custom_code: str
    custom_manifest: dict[str, Any]
    language: str
    timeout: int


class NorthTransformerDTO(Model, frozen=True, kw_only=True):
    """A stored routing rule of a North."""

    id: str
    source: TransformerSource
    transformer: StandardTransformerDTO | CustomTransformerDTO
    options: dict[str, Any]


class NorthCommand(ConnectorCommand, frozen=True, kw_only=True):
    """Body of ``POST/PUT /api/north`` (``NorthConnectorCommandDTO``); ``transformers`` left out = keep."""

    caching: CachingSettings
    transformers: list[NorthTransformerCommand] | msgspec.UnsetType = msgspec.UNSET


class NorthConnectorLightDTO(ConnectorHeaderDTO, frozen=True, kw_only=True):
    """A North in ``GET /api/north``."""

    state: dict[str, Any] | None = None


class NorthConnectorDTO(ConnectorHeaderDTO, frozen=True, kw_only=True):
    """A North with its settings, caching and routing rules."""

    settings: dict[str, Any]
    caching: CachingSettings
    transformers: list[NorthTransformerDTO]
    state: dict[str, Any] | None = None


STANDARD_TRANSFORMERS: dict[str, StandardTransformerDTO] = {
    name: StandardTransformerDTO(
        id=name, function_name=name, input_type=transformer.input_type, output_type=transformer.output_type
    )
    for name, transformer in STANDARD.items()
}


# --- Users --------------------------------------------------------------------------------------------

Language = Literal["en", "fr"]
# Basic auth splits ``login:password`` at the first colon: a login holding one could never log in.
# In Python (msgspec) ``$`` also matches before a final newline, in JSON Schema (ECMA-262, the UI) it does not:
# ``(?!\n)`` after it makes both refuse ``"admin\n"``.
Login = Annotated[str, msgspec.Meta(min_length=4, max_length=100, pattern=r"^[^:\s]+$(?!\n)")]
Email = Annotated[str, msgspec.Meta(max_length=254, pattern=r"^$(?!\n)|^[^@\s]+@[^@\s]+$(?!\n)")]
# argon2 hashes any length, but a megabyte password would cost memory on every verification.
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class UserCommand(Model, frozen=True, kw_only=True):
    """Body of ``PUT /api/users/{id}`` (``UserCommandDTO``): the profile, never the password."""

    login: Login
    first_name: Annotated[str, msgspec.Meta(max_length=NAME_MAX_LENGTH)] | None = None
    last_name: Annotated[str, msgspec.Meta(max_length=NAME_MAX_LENGTH)] | None = None
    email: Email | None = None
    language: Language = "en"
    timezone: NonEmpty = "Europe/Paris"


class UserCreateCommand(UserCommand, frozen=True, kw_only=True):
    """Body of ``POST /api/users``: the profile and the password (upstream's ``{user, password}`` is read too)."""

    password: Password


class ChangePasswordCommand(Model, frozen=True, kw_only=True):
    """Body of ``POST /api/users/{id}/password``; ``currentPassword``, when given, must match."""

    current_password: str | None = None
    new_password: Password


class UserDTO(Audited, frozen=True, kw_only=True):
    """A user (every user is an administrator; the password never leaves the store)."""

    id: str
    login: str
    first_name: str | None
    last_name: str | None
    email: str | None
    language: str
    timezone: str
    friendly_name: str


class CurrentUserDTO(UserDTO, frozen=True, kw_only=True):
    """``GET /api/users/current-user``: the user, and whether ``admin``/``pass`` still opens the engine."""

    default_password_in_use: bool


# --- IP filters ---------------------------------------------------------------------------------------

# Digits, hex letters, dots, colons and ``*`` wildcards: what a literal address or a pattern of one holds.
IpAddressPattern = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[0-9A-Fa-f.:*]+$(?!\n)")]


class IpFilterCommand(Model, frozen=True, kw_only=True):
    """Body of ``POST/PUT /api/ip-filters`` (``IPFilterCommandDTO``): an address, ``*`` matching anything."""

    address: IpAddressPattern
    description: Text | None = ""


class IpFilterDTO(Audited, frozen=True, kw_only=True):
    """An address allowed to reach the web server (loopback always is)."""

    id: str
    address: str
    description: str


# --- Certificates -------------------------------------------------------------------------------------

KeySize = Literal[2048, 3072, 4096]


CERTIFICATE_FIELD_MAX_LENGTHS = {
    "commonName": 64,
    "stateOrProvinceName": 128,
    "localityName": 128,
    "organizationName": 64,
}
"""The upper bounds X.509 sets on a subject's names (RFC 5280's ``ub-common-name`` and the others)."""
_COMMON_NAME = Annotated[str, msgspec.Meta(min_length=1, max_length=CERTIFICATE_FIELD_MAX_LENGTHS["commonName"])]
_STATE_NAME = Annotated[str, msgspec.Meta(max_length=CERTIFICATE_FIELD_MAX_LENGTHS["stateOrProvinceName"])]
_LOCALITY_NAME = Annotated[str, msgspec.Meta(max_length=CERTIFICATE_FIELD_MAX_LENGTHS["localityName"])]
_ORGANIZATION_NAME = Annotated[str, msgspec.Meta(max_length=CERTIFICATE_FIELD_MAX_LENGTHS["organizationName"])]


class CertificateOptions(Model, frozen=True, kw_only=True):
    """What to put in a generated self-signed certificate (``countryName``: two letters, ISO 3166)."""

    common_name: _COMMON_NAME
    country_name: Annotated[str, msgspec.Meta(pattern=r"^([A-Za-z]{2})?$(?!\n)")] = ""
    state_or_province_name: _STATE_NAME = ""
    locality_name: _LOCALITY_NAME = ""
    organization_name: _ORGANIZATION_NAME = ""
    key_size: KeySize = 2048
    days_before_expiry: Annotated[int, msgspec.Meta(ge=1, le=36500)] = 365


class CertificateCommand(Model, frozen=True, kw_only=True):
    """Body of ``POST/PUT /api/certificates`` (``CertificateCommandDTO``), and our PEM import.

    Creation generates a self-signed certificate from ``options``, or imports ``certificate`` with its
    ``privateKey`` (PEM). On update, ``regenerateCertificate`` with ``options`` makes a new one, and
    ``certificate`` replaces it (an empty ``privateKey`` keeps the stored key if it matches).
    """

    name: Name
    description: Text | None = ""
    regenerate_certificate: bool = False
    options: CertificateOptions | None = None
    certificate: str | None = None
    private_key: OptionalSecret = None


class CertificateDTO(Audited, frozen=True, kw_only=True):
    """A stored certificate (its private key never leaves the store)."""

    id: str
    name: str
    description: str
    public_key: str
    certificate: str
    expiry: str
