"""Persistence of the OIAnalytics agent in ``oibus.db``: the registration, the command store, the message queue.

The tables are created by the configuration store's migrations; this repository opens its own connection
(WAL: the store and the agent read and write side by side) and keeps secrets (token, private key, proxy
password, gateway header value) encrypted with the same local key as every other secret.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from connectors.errors import SettingsError
from engine.config.base import PAGE_SIZE, Database, StoreBase, from_json, now, random_id, to_json
from engine.config.crypto import SecretBox
from engine.config.errors import NotFoundError
from engine.config.manifests import StaticManifests
from engine.config.models import Page
from engine.config.store import CRYPTO_FILE, DB_FILE
from engine.oianalytics.models import (
    COMMAND_STATUSES,
    ID_FIELDS,
    PERMISSIONS,
    CommandDTO,
    RegistrationDTO,
    RegistrationSettings,
    all_permissions,
)

RETENTION = timedelta(days=7)
"""Finished commands and sent messages older than this are deleted (upstream's hourly cleanup)."""


@dataclass(frozen=True, slots=True)
class Registration:
    """The registration with its secrets decrypted (for the agent only; never serialised as is)."""

    id: str
    host: str
    status: str
    activation_code: str
    check_url: str
    activation_expiration_date: str
    activation_date: str
    use_proxy: bool
    proxy_url: str | None
    proxy_username: str | None
    accept_unauthorized: bool
    use_api_gateway: bool
    api_gateway_header_key: str | None
    api_gateway_base_endpoint: str | None
    command_refresh_interval: int
    command_retry_interval: int
    message_retry_interval: int
    command_permissions: dict[str, bool]
    public_key: str
    created_at: str
    updated_at: str
    token: str = field(default="", repr=False)
    private_key: str = field(default="", repr=False)
    proxy_password: str | None = field(default=None, repr=False)
    api_gateway_header_value: str | None = field(default=None, repr=False)

    @property
    def registered(self) -> bool:
        """Whether OIAnalytics activated this OIBus (commands, messages and logs flow only then)."""
        return self.status == "REGISTERED" and bool(self.token)

    def to_dto(self) -> RegistrationDTO:
        """The API form: no token, no private key, no password, no gateway header value."""
        return RegistrationDTO(
            id=self.id,
            host=self.host,
            status=self.status,  # type: ignore[arg-type]
            activation_code=self.activation_code or None,
            activation_date=self.activation_date or None,
            activation_expiration_date=self.activation_expiration_date or None,
            check_url=self.check_url or None,
            use_proxy=self.use_proxy,
            proxy_url=self.proxy_url,
            proxy_username=self.proxy_username,
            use_api_gateway=self.use_api_gateway,
            api_gateway_header_key=self.api_gateway_header_key,
            api_gateway_base_endpoint=self.api_gateway_base_endpoint,
            accept_unauthorized=self.accept_unauthorized,
            command_refresh_interval=self.command_refresh_interval,
            command_retry_interval=self.command_retry_interval,
            message_retry_interval=self.message_retry_interval,
            command_permissions=self.command_permissions,
            public_cipher_key=self.public_key or None,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


@dataclass(frozen=True, slots=True)
class StoredCommand:
    """A command as stored locally; ``content`` is the decoded ``commandContent`` (RSA ciphertexts included)."""

    id: str
    type: str
    status: str
    ack: bool
    target_version: str
    retrieved_date: str
    completed_date: str | None
    result: str | None
    ids: dict[str, str | None]
    """Wire name (``southConnectorId``...) → value, for the types that carry one."""
    content: Any
    created_at: str
    updated_at: str

    def to_wire(self) -> dict[str, Any]:
        """The object ``PUT /commands/status`` carries (upstream's key order; ``ack`` false as upstream reads it)."""
        wire: dict[str, Any] = {
            "id": self.id,
            "createdBy": None,
            "updatedBy": None,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "status": self.status,
            "ack": False,
            "targetVersion": self.target_version,
            "retrievedDate": self.retrieved_date,
            "completedDate": self.completed_date,
            "result": self.result,
            "type": self.type,
        }
        for wire_name, _ in ID_FIELDS:
            if wire_name in self.ids:
                wire[wire_name] = self.ids[wire_name]
        if self.content is not None:
            wire["commandContent"] = self.content
        return wire

    def to_dto(self) -> CommandDTO:
        """The local API form."""
        return CommandDTO(
            id=self.id,
            type=self.type,
            status=self.status,  # type: ignore[arg-type]
            ack=self.ack,
            target_version=self.target_version,
            retrieved_date=self.retrieved_date,
            completed_date=self.completed_date,
            result=self.result,
            command_content=self.content,
        )


class CommandRejected(ValueError):
    """A command from OIAnalytics that cannot be stored (unknown type, id already stored, not an object)."""


def local_command(wire: Any) -> tuple[str, str, str, dict[str, str | None], Any]:
    """Map a ``/pending`` element to ``(id, type, targetVersion, ids, content)`` (upstream's repository mapping).

    A type this OIBus does not know is stored too: the executor reports it ERRORED rather than drop it.
    """
    if not isinstance(wire, dict):
        raise CommandRejected(f"a command must be an object, got {type(wire).__name__}")
    command_id, command_type = wire.get("id"), wire.get("type")
    if not isinstance(command_id, str) or not command_id:
        raise CommandRejected("a command has no id")
    if not isinstance(command_type, str) or not command_type:
        raise CommandRejected(f"command {command_id} has no type")
    target = wire.get("targetVersion")
    ids: dict[str, str | None] = {}
    content: Any = wire.get("commandContent")
    for name, _ in ID_FIELDS:
        if name in wire:
            ids[name] = wire[name]
    if command_type == "create-south":
        ids["southConnectorId"] = wire.get("retrieveSecretsFromSouth") or ""
    elif command_type == "create-north":
        ids["northConnectorId"] = wire.get("retrieveSecretsFromNorth") or ""
    elif command_type == "create-history-query":
        ids["southConnectorId"] = wire.get("retrieveSecretsFromSouth") or ""
        ids["northConnectorId"] = wire.get("retrieveSecretsFromNorth") or ""
        ids["historyQueryId"] = wire.get("retrieveSecretsFromHistoryQuery") or ""
    if "historyId" in wire:
        ids["historyQueryId"] = wire["historyId"]
    if command_type == "update-version":
        content = {
            "version": wire.get("version"),
            "assetId": wire.get("assetId"),
            "updateLauncher": bool(wire.get("updateLauncher")),
            "backupFolders": wire.get("backupFoldersPattern"),
        }
    elif command_type.endswith("-items-from-csv"):
        content = {key: wire.get(key) for key in ("deleteItemsNotPresent", "csvContent", "delimiter")}
    elif command_type == "update-history-query-status":
        content = {"historyQueryStatus": wire.get("historyQueryStatus")}
    return command_id, command_type, str(target or ""), ids, content


class OIAnalyticsRepository(StoreBase):
    """The agent's tables. Thread-safe; every method is short and synchronous."""

    def __init__(self, data_dir: Path, engine_id: str) -> None:
        connection = sqlite3.connect(data_dir / DB_FILE, isolation_level=None, check_same_thread=False)
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA busy_timeout = 5000")
        connection.execute("PRAGMA synchronous = FULL")
        # Its own connection to oibus.db (the agent's tables); it validates no connector settings.
        super().__init__(Database(connection, SecretBox.open(data_dir / CRYPTO_FILE, engine_id), StaticManifests(())))
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM registrations LIMIT 1").fetchone() is None:
                stamp = now()
                db.execute(
                    "INSERT INTO registrations (id, command_permissions, created_at, updated_at) VALUES (?, ?, ?, ?)",
                    (random_id(16), to_json(all_permissions()), stamp, stamp),
                )

    def close(self) -> None:
        """Close the connection."""
        self._database.close()

    # --- Registration -------------------------------------------------------------------------------------

    def registration(self) -> Registration:
        """The registration, secrets decrypted."""
        with self._lock:
            row = self._db.execute("SELECT * FROM registrations LIMIT 1").fetchone()
        permissions = {**all_permissions(False), **from_json(row["command_permissions"])}
        reveal = self._box.decrypt
        return Registration(
            id=row["id"],
            host=row["host"],
            status=row["status"],
            activation_code=row["activation_code"],
            check_url=row["check_url"],
            activation_expiration_date=row["activation_expiration_date"],
            activation_date=row["activation_date"],
            use_proxy=bool(row["use_proxy"]),
            proxy_url=row["proxy_url"],
            proxy_username=row["proxy_username"],
            accept_unauthorized=bool(row["accept_unauthorized"]),
            use_api_gateway=bool(row["use_api_gateway"]),
            api_gateway_header_key=row["api_gateway_header_key"],
            api_gateway_base_endpoint=row["api_gateway_base_endpoint"],
            command_refresh_interval=row["command_refresh_interval"],
            command_retry_interval=row["command_retry_interval"],
            message_retry_interval=row["message_retry_interval"],
            command_permissions={name: bool(permissions[name]) for name in PERMISSIONS},
            public_key=row["public_key"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            token=reveal(row["token"]) if row["token"] else "",
            private_key=reveal(row["private_key"]) if row["private_key"] else "",
            proxy_password=reveal(row["proxy_password"]) if row["proxy_password"] else None,
            api_gateway_header_value=(
                reveal(row["api_gateway_header_value"]) if row["api_gateway_header_value"] else None
            ),
        )

    def _settings_columns(
        self, settings: RegistrationSettings, row: sqlite3.Row, *, keep_permissions: bool
    ) -> dict[str, Any]:
        """Columns of ``settings``; empty secrets keep the stored ones."""
        if settings.use_proxy and not settings.proxy_url:
            raise SettingsError({"proxyUrl": "required when useProxy is true"})
        if settings.use_api_gateway and not settings.api_gateway_header_key and not settings.api_gateway_base_endpoint:
            raise SettingsError({"apiGatewayHeaderKey": "a header or a base endpoint is required with useApiGateway"})
        columns: dict[str, Any] = {
            "use_proxy": int(settings.use_proxy),
            "proxy_url": settings.proxy_url,
            "proxy_username": settings.proxy_username,
            "proxy_password": (
                self._box.encrypt(settings.proxy_password) if settings.proxy_password else row["proxy_password"]
            ),
            "accept_unauthorized": int(settings.accept_unauthorized),
            "use_api_gateway": int(settings.use_api_gateway),
            "api_gateway_header_key": settings.api_gateway_header_key,
            "api_gateway_header_value": (
                self._box.encrypt(settings.api_gateway_header_value)
                if settings.api_gateway_header_value
                else row["api_gateway_header_value"]
            ),
            "api_gateway_base_endpoint": settings.api_gateway_base_endpoint,
            "command_refresh_interval": settings.command_refresh_interval,
            "command_retry_interval": settings.command_retry_interval,
            "message_retry_interval": settings.message_retry_interval,
        }
        if settings.command_permissions is not None:
            wanted = msgspec.to_builtins(settings.command_permissions)
            if keep_permissions:
                # From OIAnalytics: a permission disabled locally stays disabled (only OIBus re-enables it).
                stored = from_json(row["command_permissions"])
                wanted = {name: bool(stored.get(name, True)) and bool(wanted[name]) for name in PERMISSIONS}
            columns["command_permissions"] = to_json(wanted)
        return columns

    def _update(self, db: sqlite3.Connection, columns: dict[str, Any]) -> None:
        columns = {**columns, "updated_at": now()}
        assignments = ", ".join(f"{name} = ?" for name in columns)
        db.execute(f"UPDATE registrations SET {assignments}", tuple(columns.values()))

    def start_registration(
        self,
        settings: RegistrationSettings,
        *,
        activation_code: str,
        check_url: str,
        expiration_date: str,
        public_key: str,
        private_key: str,
    ) -> None:
        """Record a registration OIAnalytics accepted: PENDING with its code, check URL and new keys."""
        with self._transaction() as db:
            row = db.execute("SELECT * FROM registrations LIMIT 1").fetchone()
            columns = self._settings_columns(settings, row, keep_permissions=False)
            columns.update(
                host=settings.host,
                status="PENDING",
                token="",
                activation_code=activation_code,
                check_url=check_url,
                activation_expiration_date=expiration_date,
                activation_date="",
                public_key=public_key,
                private_key=self._box.encrypt(private_key),
            )
            self._update(db, columns)

    def check_settings(self, settings: RegistrationSettings) -> None:
        """Raise ``SettingsError`` for settings ``start_registration`` would refuse (checked before any request)."""
        with self._lock:
            row = self._db.execute("SELECT * FROM registrations LIMIT 1").fetchone()
        self._settings_columns(settings, row, keep_permissions=False)

    def activate(self, token: str) -> None:
        """OIAnalytics completed the registration: REGISTERED with the token (encrypted)."""
        with self._transaction() as db:
            self._update(
                db,
                {
                    "status": "REGISTERED",
                    "token": self._box.encrypt(token),
                    "activation_date": now(),
                    "activation_code": "",
                    "check_url": "",
                    "activation_expiration_date": "",
                },
            )

    def unregister(self) -> None:
        """Back to NOT_REGISTERED (keys, settings, commands and messages stay)."""
        with self._transaction() as db:
            self._update(
                db,
                {
                    "status": "NOT_REGISTERED",
                    "token": "",
                    "activation_code": "",
                    "check_url": "",
                    "activation_expiration_date": "",
                    "activation_date": "",
                },
            )

    def update_settings(self, settings: RegistrationSettings, *, from_oianalytics: bool = False) -> None:
        """Change everything but ``host``, the status, the token and the keys."""
        with self._transaction() as db:
            row = db.execute("SELECT * FROM registrations LIMIT 1").fetchone()
            self._update(db, self._settings_columns(settings, row, keep_permissions=from_oianalytics))

    def replace_keys(self, public_key: str, private_key: str) -> None:
        """Store a new key pair (``regenerate-cipher-keys``)."""
        with self._transaction() as db:
            self._update(db, {"public_key": public_key, "private_key": self._box.encrypt(private_key)})

    # --- Commands -----------------------------------------------------------------------------------------

    def _command(self, row: sqlite3.Row) -> StoredCommand:
        ids = {wire_name: row[column] for wire_name, column in ID_FIELDS if row[column] is not None}
        return StoredCommand(
            id=row["id"],
            type=row["type"],
            status=row["status"],
            ack=bool(row["ack"]),
            target_version=row["target_version"],
            retrieved_date=row["retrieved_date"],
            completed_date=row["completed_date"],
            result=row["result"],
            ids=ids,
            content=from_json(row["command_content"]) if row["command_content"] is not None else None,
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    def store_command(self, wire: Any) -> StoredCommand:
        """Store a command fetched from ``/pending`` as RETRIEVED; ``CommandRejected`` if it cannot be."""
        command_id, command_type, target, ids, content = local_command(wire)
        stamp = now()
        columns = {column: ids.get(wire_name) for wire_name, column in ID_FIELDS if wire_name in ids}
        names = ["id", "type", "status", "ack", "target_version", "retrieved_date", "command_content"]
        values: list[Any] = [
            command_id,
            command_type,
            "RETRIEVED",
            0,
            target,
            stamp,
            None if content is None else to_json(content),
        ]
        names += [*columns, "created_at", "updated_at"]
        values += [*columns.values(), stamp, stamp]
        try:
            with self._transaction() as db:
                db.execute(
                    f"INSERT INTO commands ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                    values,
                )
        except sqlite3.IntegrityError as err:
            raise CommandRejected(f"command {command_id} is already stored") from err
        return self.command(command_id)

    def command(self, command_id: str) -> StoredCommand:
        """One stored command."""
        with self._lock:
            row = self._db.execute("SELECT * FROM commands WHERE id = ?", (command_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"Command {command_id} not found")
        return self._command(row)

    def commands_with_status(self, *statuses: str) -> list[StoredCommand]:
        """Commands in ``statuses``, oldest retrieved first."""
        marks = ", ".join("?" * len(statuses))
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM commands WHERE status IN ({marks}) ORDER BY retrieved_date, rowid",
                statuses,
            ).fetchall()
        return [self._command(row) for row in rows]

    def unacknowledged(self) -> list[StoredCommand]:
        """Commands whose current status OIAnalytics has not confirmed yet."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM commands WHERE ack = 0 ORDER BY retrieved_date, rowid").fetchall()
        return [self._command(row) for row in rows]

    def set_status(self, command_id: str, status: str, result: str | None = None, *, completed: bool = False) -> None:
        """Change a command's status (its acknowledgement is due again)."""
        stamp = now()
        with self._transaction() as db:
            db.execute(
                "UPDATE commands SET status = ?, result = COALESCE(?, result), ack = 0, updated_at = ?, "
                "completed_date = CASE WHEN ? THEN ? ELSE completed_date END WHERE id = ?",
                (status, result, stamp, int(completed), stamp, command_id),
            )

    def acknowledged(self, command_id: str, updated_at: str) -> None:
        """OIAnalytics confirmed the status sent at ``updated_at`` (a later change stays unacknowledged)."""
        with self._transaction() as db:
            db.execute("UPDATE commands SET ack = 1 WHERE id = ? AND updated_at = ?", (command_id, updated_at))

    def search_commands(
        self,
        *,
        types: Sequence[str] = (),
        statuses: Sequence[str] = (),
        start: str | None = None,
        end: str | None = None,
        ack: bool | None = None,
        page: int = 0,
    ) -> Page[CommandDTO]:
        """``GET /api/oianalytics/commands/search``: newest first, 50 per page."""
        where: list[str] = []
        params: list[Any] = []
        unknown = [status for status in statuses if status not in COMMAND_STATUSES]
        if unknown:
            raise SettingsError({"status": f"unknown status {unknown[0]!r}"})
        if types:
            where.append(f"type IN ({', '.join('?' * len(types))})")
            params += list(types)
        if statuses:
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            params += list(statuses)
        if start:
            where.append("retrieved_date >= ?")
            params.append(start)
        if end:
            where.append("retrieved_date < ?")
            params.append(end)
        if ack is not None:
            where.append("ack = ?")
            params.append(int(ack))
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._lock:
            total = self._db.execute(f"SELECT COUNT(*) FROM commands {clause}", params).fetchone()[0]
            rows = self._db.execute(
                f"SELECT * FROM commands {clause} ORDER BY retrieved_date DESC, rowid DESC LIMIT ? OFFSET ?",
                [*params, PAGE_SIZE, page * PAGE_SIZE],
            ).fetchall()
        return Page(
            content=[self._command(row).to_dto() for row in rows],
            size=PAGE_SIZE,
            number=page,
            total_elements=total,
            total_pages=(total + PAGE_SIZE - 1) // PAGE_SIZE,
        )

    def delete_command(self, command_id: str) -> None:
        """Delete a stored command (``DELETE /api/oianalytics/commands/{id}``)."""
        with self._transaction() as db:
            if db.execute("DELETE FROM commands WHERE id = ?", (command_id,)).rowcount == 0:
                raise NotFoundError(f"Command {command_id} not found")

    # --- Messages -----------------------------------------------------------------------------------------

    def queue_message(self, message_type: str) -> bool:
        """Queue a message of ``message_type`` unless one is already PENDING; True when one was created."""
        stamp = now()
        with self._transaction() as db:
            if db.execute(
                "SELECT 1 FROM oianalytics_messages WHERE type = ? AND status = 'PENDING'", (message_type,)
            ).fetchone():
                return False
            db.execute(
                "INSERT INTO oianalytics_messages (id, type, status, created_at, updated_at) "
                "VALUES (?, ?, 'PENDING', ?, ?)",
                (random_id(16), message_type, stamp, stamp),
            )
        return True

    def next_message(self) -> tuple[str, str] | None:
        """``(id, type)`` of the oldest PENDING message."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, type FROM oianalytics_messages WHERE status = 'PENDING' ORDER BY created_at, rowid LIMIT 1"
            ).fetchone()
        return (row["id"], row["type"]) if row is not None else None

    def finish_message(self, message_id: str, error: str | None = None) -> None:
        """COMPLETED, or ERRORED with ``error`` (dropped for good)."""
        stamp = now()
        with self._transaction() as db:
            db.execute(
                "UPDATE oianalytics_messages SET status = ?, error = ?, completed_date = ?, updated_at = ? "
                "WHERE id = ?",
                ("ERRORED" if error else "COMPLETED", error, stamp, stamp, message_id),
            )

    def messages(self) -> list[dict[str, Any]]:
        """Every message row (oldest first), for tests and diagnostics."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM oianalytics_messages ORDER BY created_at, rowid").fetchall()
        return [dict(row) for row in rows]

    def prune(self, older_than: timedelta = RETENTION) -> int:
        """Delete finished commands and messages older than ``older_than``; returns how many."""
        limit = (datetime.now(UTC) - older_than).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        with self._transaction() as db:
            removed = db.execute(
                "DELETE FROM commands WHERE status IN ('COMPLETED', 'ERRORED', 'CANCELLED') AND ack = 1 "
                "AND updated_at < ?",
                (limit,),
            ).rowcount
            removed += db.execute(
                "DELETE FROM oianalytics_messages WHERE status != 'PENDING' AND updated_at < ?", (limit,)
            ).rowcount
        return int(removed)
