"""The configuration store: ``oibus.db`` (SQLite) behind typed, validated, transactional methods.

Two forms of every connector exist: the API form (``south_dto``/``north_dto``: every secret ``""``) and
the worker form (``get_south``/``get_north``: secrets decrypted). Mutations take the raw JSON body of the
matching command, validate all of it (``SettingsError`` lists every bad field), store it in one
transaction and return the API form. Methods are synchronous and thread-safe: the API calls them through
``asyncio.to_thread`` so a large South never blocks the event loop.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import msgspec
import structlog
from argon2 import PasswordHasher

from connectors.errors import SettingsError
from engine.config.base import Database, audit, from_json, now, random_id, require_object, to_json, user_infos
from engine.config.certificates import CertificateRepository
from engine.config.connector_base import ConnectorRepository
from engine.config.crypto import SecretBox, blank, reveal, seal, secret_shape, token_key
from engine.config.custom_transformers import CustomTransformerRepository
from engine.config.external_sources import ExternalSourceRepository
from engine.config.history_queries import HistoryQueryRepository
from engine.config.ip_filters import IpFilterRepository
from engine.config.manifests import ManifestSource, RegistryManifests
from engine.config.migrations import migrate
from engine.config.models import (
    SYSTEM_USER,
    EngineSettings,
    EngineSettingsDTO,
    GeneralSettings,
    WebServerSettings,
)
from engine.config.north import NorthRepository
from engine.config.provisioning import InitSettings
from engine.config.scan_modes import ScanModeRepository, seed_scan_modes
from engine.config.south import SouthRepository
from engine.config.users import UserRepository
from engine.config.validation import convert
from engine.version import engine_version

log = structlog.get_logger(__name__)

DB_FILE = "oibus.db"
CRYPTO_FILE = "crypto.db"
# Top-level keys of the 3.9 nested engine settings; a body with none of them is read as 3.8 flat.
_NESTED_KEYS = frozenset({"general", "webServer", "proxyServer", "logger"})
_FLAT_KEYS = frozenset({"name", "port", "proxyEnabled", "proxyPort", "logParameters"})


def _deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in patch.items():
        current = merged.get(key)
        merged[key] = _deep_merge(current, value) if isinstance(current, dict) and isinstance(value, dict) else value
    return merged


def engine_patch(body: dict[str, Any]) -> dict[str, Any]:
    """Return the 3.9 nested form of an engine settings body (3.8 flat bodies are translated)."""
    if _NESTED_KEYS & body.keys() or not _FLAT_KEYS & body.keys():
        return body
    patch: dict[str, Any] = {}
    if "name" in body:
        patch["general"] = {"name": body["name"]}
    if "port" in body:
        patch["webServer"] = {"port": body["port"]}
    proxy = {key: body[flat] for key, flat in (("enabled", "proxyEnabled"), ("port", "proxyPort")) if flat in body}
    if proxy:
        patch["proxyServer"] = proxy
    if "logParameters" in body:
        patch["logger"] = body["logParameters"]
    return patch


class ConfigStore:
    """All of OIBus's stored configuration. Open with ``ConfigStore.open``; close when done.

    One repository per aggregate, all over one ``Database``: ``souths`` (South connectors, their groups and
    items: ``engine/config/south.py``), ``norths`` (North connectors and their rules: ``north.py``),
    ``connectors`` (types, manifests, settings tests of either kind: ``connector_base.py``), ``scan_modes``,
    ``users``, ``ip_filters``, ``external_sources``, ``certificates``, ``custom_transformers``,
    ``history_queries`` (each in the module of that name). The engine's own settings are read and changed here.
    """

    def __init__(
        self,
        db: sqlite3.Connection,
        box: SecretBox,
        manifests: ManifestSource,
        hasher: PasswordHasher,
        data_dir: Path,
        engine_id: str,
        token_key: bytes,
    ) -> None:
        self._database = database = Database(db, box, manifests)
        self.data_dir = data_dir
        self.engine_id = engine_id
        self.token_key = token_key
        """HMAC-SHA256 key of API login tokens (kept in ``crypto.db``)."""
        self.souths = SouthRepository(database)
        self.norths = NorthRepository(database)
        self.connectors = ConnectorRepository(database)
        self.scan_modes = ScanModeRepository(database)
        self.users = UserRepository(database, hasher)
        self.ip_filters = IpFilterRepository(database)
        self.external_sources = ExternalSourceRepository(database)
        self.certificates = CertificateRepository(database)
        self.custom_transformers = CustomTransformerRepository(database)
        self.history_queries = HistoryQueryRepository(database)

    @classmethod
    def open(
        cls,
        data_dir: Path,
        *,
        init: InitSettings | None,
        manifests: ManifestSource | None = None,
        launcher_version: str | None = None,
        password_hasher: PasswordHasher | None = None,
    ) -> ConfigStore:
        """Open (creating and migrating if needed) ``oibus.db`` and ``crypto.db`` in ``data_dir``.

        ``init`` (see ``read_init_settings``) is used only for rows created now: the engine row and the
        first user. ``manifests`` defaults to the connector registry.
        """
        data_dir.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(data_dir / DB_FILE, isolation_level=None, check_same_thread=False)
        try:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("PRAGMA journal_mode = WAL")
            # Configuration changes are rare and must survive a power cut once acknowledged.
            db.execute("PRAGMA synchronous = FULL")
            db.execute("PRAGMA busy_timeout = 5000")
            migrate(db)
            hasher = password_hasher or PasswordHasher()
            engine_id = cls._provision(db, init or InitSettings(), hasher, launcher_version)
            box = SecretBox.open(data_dir / CRYPTO_FILE, engine_id)
            signing_key = token_key(data_dir / CRYPTO_FILE, engine_id)
        except BaseException:
            db.close()
            raise
        log.info("config_store_opened", data_dir=str(data_dir), engine_id=engine_id)
        return cls(db, box, manifests or RegistryManifests(), hasher, data_dir, engine_id, signing_key)

    @staticmethod
    def _provision(
        db: sqlite3.Connection, init: InitSettings, hasher: PasswordHasher, launcher_version: str | None
    ) -> str:
        """Create the rows a first start needs (engine, first user, scan modes); returns the engine id."""
        db.execute("BEGIN IMMEDIATE")
        try:
            stamp = now()
            row = db.execute("SELECT id FROM engines LIMIT 1").fetchone()
            if row is None:
                engine_id = random_id(16)
                settings = EngineSettings(
                    general=GeneralSettings(name=init.engine_name),
                    web_server=WebServerSettings(port=init.port),
                )
                db.execute(
                    "INSERT INTO engines (id, settings, created_at, updated_at) VALUES (?, ?, ?, ?)",
                    (engine_id, to_json(settings), stamp, stamp),
                )
                log.info("engine_settings_created", engine_id=engine_id, name=init.engine_name, port=init.port)
            else:
                engine_id = row["id"]
            db.execute("UPDATE engines SET oibus_version = ? WHERE id = ?", (engine_version(), engine_id))
            if launcher_version is not None:
                db.execute(
                    "UPDATE engines SET oibus_launcher_version = ? WHERE id = ?",
                    (launcher_version, engine_id),
                )
            if db.execute("SELECT 1 FROM users LIMIT 1").fetchone() is None:
                db.execute(
                    "INSERT INTO users (id, login, password, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                    (random_id(), init.admin_username, hasher.hash(init.admin_password), stamp, stamp),
                )
                log.info("first_user_created", login=init.admin_username)
            seed_scan_modes(db)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return str(engine_id)

    @property
    def manifests(self) -> ManifestSource:
        """The connector manifests this store validates settings against (the OpenAPI document shows the same)."""
        return self._database.manifests

    def close(self) -> None:
        """Close the database."""
        self._database.close()

    def __enter__(self) -> ConfigStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- Engine settings ----------------------------------------------------------------------------------

    def engine_settings(self) -> EngineSettingsDTO:
        """Return the engine settings with secrets decrypted (for the engine itself)."""
        return self._engine("reveal")

    def engine_settings_dto(self) -> EngineSettingsDTO:
        """Return the engine settings as the API shows them (secrets blank)."""
        return self._engine("blank")

    def update_engine_settings(self, body: Any, *, actor: str = SYSTEM_USER) -> EngineSettingsDTO:
        """Apply a full or partial body, 3.9 nested or 3.8 flat; sections left out stay as they are."""
        patch = engine_patch(require_object(body))
        shape = secret_shape(EngineSettings)
        with self._database.transaction() as db:
            row = db.execute("SELECT settings FROM engines WHERE id = ?", (self.engine_id,)).fetchone()
            stored = from_json(row["settings"])
            settings = convert(_deep_merge(blank(stored, shape), patch), EngineSettings)
            # Port 0 (the system picks one at each start) never clashes with another listener.
            if settings.proxy_server.enabled and settings.proxy_server.port == settings.web_server.port != 0:
                raise SettingsError({"proxyServer.port": "must differ from webServer.port"})
            https = settings.web_server.https
            if https.enabled and https.keep_http and https.port == settings.web_server.port != 0:
                raise SettingsError({"webServer.https.port": "must differ from webServer.port while HTTP is kept"})
            if https.enabled and settings.proxy_server.enabled and https.port == settings.proxy_server.port != 0:
                raise SettingsError({"webServer.https.port": "must differ from proxyServer.port"})
            db.execute(
                "UPDATE engines SET settings = ?, updated_by = ?, updated_at = ? WHERE id = ?",
                (
                    to_json(seal(msgspec.to_builtins(settings), stored, shape, self._database.box)),
                    actor,
                    now(),
                    self.engine_id,
                ),
            )
        log.info("engine_settings_updated", sections=sorted(patch))
        return self.engine_settings_dto()

    def _engine(self, secrets: Literal["reveal", "blank"]) -> EngineSettingsDTO:
        shape = secret_shape(EngineSettings)
        with self._database.reading() as db:
            row = db.execute("SELECT * FROM engines WHERE id = ?", (self.engine_id,)).fetchone()
            users = user_infos(db)
        stored = from_json(row["settings"])
        shown = reveal(stored, shape, self._database.box) if secrets == "reveal" else blank(stored, shape)
        settings = msgspec.convert(shown, EngineSettings)
        return EngineSettingsDTO(
            id=row["id"],
            version=row["oibus_version"],
            launcher_version=row["oibus_launcher_version"],
            general=settings.general,
            web_server=settings.web_server,
            proxy_server=settings.proxy_server,
            logger=settings.logger,
            **audit(row, users),
        )
