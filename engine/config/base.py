"""Shared plumbing of the configuration store: connection, transactions, ids, audit fields, lookups."""

from __future__ import annotations

import secrets
import sqlite3
import string
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from typing import Any

import msgspec

from connectors.errors import SettingsError
from engine.config.crypto import SecretBox
from engine.config.manifests import ManifestSource
from engine.config.models import SYSTEM_USER, ScanModeDTO, UserInfo
from engine.scheduler.timing import ActivationWindow, ScanModeInterval, is_expired

PAGE_SIZE = 50
"""Rows per page of a paged search (upstream's size)."""

_ALPHABET = string.ascii_letters + string.digits
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


def random_id(length: int = 6) -> str:
    """Return a random ``[0-9a-zA-Z]`` id (6 characters for entities, 16 for the engine)."""
    # One urandom call per id with rejection sampling (bytes >= 248 would bias the modulo): creating
    # 10,000 items spends most of its time here with a secrets.choice call per character.
    chars: list[str] = []
    while len(chars) < length:
        chars.extend(_ALPHABET[byte % 62] for byte in secrets.token_bytes(length * 2) if byte < 248)
    return "".join(chars[:length])


def now() -> str:
    """Return the current instant as stored: ISO-8601 UTC with milliseconds."""
    instant = datetime.now(UTC)
    return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"


def contains_pattern(text: str) -> str:
    """A pattern for ``LIKE ? ESCAPE`` (backslash) matching values that contain ``text`` literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def friendly_name(login: str, first_name: str | None, last_name: str | None) -> str:
    """How a user is shown: first and last name when known, the login otherwise."""
    full = " ".join(part for part in (first_name, last_name) if part)
    return full or login


def to_json(value: Any) -> str:
    """JSON text of a builtin value or a Struct."""
    return _encoder.encode(value).decode()


def from_json(text: str) -> Any:
    """Builtin value of stored JSON text."""
    return _decoder.decode(text)


def require_object(body: Any) -> dict[str, Any]:
    """``body`` when it is a JSON object; ``SettingsError`` otherwise."""
    if not isinstance(body, dict):
        raise SettingsError({"body": f"Expected `object`, got `{_json_type(body)}`"})
    return body


def claim_id(requested: str | None, reusable: set[str]) -> str | None:
    """Return ``requested`` and take it out of ``reusable`` when it is there (a stored id kept by an update)."""
    if requested is None or requested not in reusable:
        return None
    reusable.discard(requested)
    return requested


def moved(raw: dict[str, Any], source: str, target: str) -> dict[str, Any]:
    """Return ``raw`` with ``raw[source]["id"]`` copied into ``raw[target]`` when that is unset.

    3.9 DTOs carry ``scanMode: {id}`` where commands carry ``scanModeId`` (likewise ``group``, ``south``,
    ``transformer``), and a client sends back what it read.
    """
    value = raw.get(source)
    if raw.get(target) is None and isinstance(value, dict) and "id" in value:
        raw = {**raw, target: value["id"]}
    return raw


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "str" if isinstance(value, str) else type(value).__name__


class Database:
    """The one ``oibus.db`` connection every repository of the store shares.

    Shared by the threads the API offloads work to, serialised by ``lock``. Every change runs in one
    ``BEGIN IMMEDIATE`` transaction: a failure anywhere stores nothing. ``box`` seals and opens secrets;
    ``manifests`` are the connector types settings are validated against.
    """

    def __init__(self, connection: sqlite3.Connection, box: SecretBox, manifests: ManifestSource) -> None:
        self.connection = connection
        self.lock = threading.RLock()
        self.box = box
        self.manifests = manifests

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed when the block ends, rolled back when it raises."""
        with self.lock:
            self.connection.execute("BEGIN IMMEDIATE")
            try:
                yield self.connection
            except BaseException:
                self.connection.execute("ROLLBACK")
                raise
            self.connection.execute("COMMIT")

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: a consistent snapshot across the several queries of one DTO."""
        with self.lock:
            self.connection.execute("BEGIN")
            try:
                yield self.connection
            finally:
                self.connection.execute("COMMIT")

    def close(self) -> None:
        """Close the connection."""
        with self.lock:
            self.connection.close()


def user_infos(db: sqlite3.Connection) -> dict[str, UserInfo]:
    """How every user (and the system actor) is shown in audit fields, by id."""
    infos = {SYSTEM_USER: UserInfo(id=SYSTEM_USER, friendly_name=SYSTEM_USER)}
    for row in db.execute("SELECT id, login, first_name, last_name FROM users"):
        infos[row["id"]] = UserInfo(
            id=row["id"], friendly_name=friendly_name(row["login"], row["first_name"], row["last_name"])
        )
    return infos


def audit(row: sqlite3.Row, users: dict[str, UserInfo]) -> dict[str, Any]:
    """Return the audit keyword arguments of a DTO built from ``row``."""
    return {
        "created_by": users.get(row["created_by"], UserInfo(id=row["created_by"], friendly_name="")),
        "updated_by": users.get(row["updated_by"], UserInfo(id=row["updated_by"], friendly_name="")),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def scan_mode_dto(row: sqlite3.Row, audited: dict[str, Any]) -> ScanModeDTO:
    """A scan mode row as its DTO; ``activationWindowExpired`` is computed now, as upstream does."""
    interval = msgspec.json.decode(row["interval"], type=ScanModeInterval) if row["interval"] else None
    window = msgspec.json.decode(row["activation_window"], type=ActivationWindow) if row["activation_window"] else None
    return ScanModeDTO(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        type=row["type"],
        cron=row["cron"],
        interval=interval,
        activation_window=window,
        activation_window_expired=is_expired(window, datetime.now(UTC)),
        **audited,
    )


class StoreBase:
    """What every repository of the store shares: the ``Database`` and its helpers.

    A repository is one aggregate's methods (``SouthRepository``, ``UserRepository``, ...); ``ConfigStore``
    holds one of each over the same ``Database``.
    """

    def __init__(self, database: Database) -> None:
        self._database = database
        self._db = database.connection
        self._lock = database.lock
        self._box = database.box
        self._manifests = database.manifests

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._database.transaction()

    def _reading(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._database.reading()

    @staticmethod
    def _user_infos(db: sqlite3.Connection) -> dict[str, UserInfo]:
        return user_infos(db)

    @staticmethod
    def _audit(row: sqlite3.Row, users: dict[str, UserInfo]) -> dict[str, Any]:
        """Return the audit keyword arguments of a DTO built from ``row``."""
        return audit(row, users)

    def _scan_modes(self, db: sqlite3.Connection, users: dict[str, UserInfo]) -> dict[str, ScanModeDTO]:
        """Every scan mode by id."""
        return {
            row["id"]: scan_mode_dto(row, self._audit(row, users))
            for row in db.execute("SELECT * FROM scan_modes ORDER BY name")
        }

    def _resolve_scan_mode(
        self,
        modes: dict[str, ScanModeDTO],
        scan_mode_id: str | None,
        scan_mode_name: str | None,
        path: str,
        errors: dict[str, str],
    ) -> str | None:
        """Return the id of the scan mode given by id (preferred) or by name; records a problem otherwise."""
        if scan_mode_id:
            if scan_mode_id in modes:
                return scan_mode_id
            errors[f"{path}scanModeId"] = f"unknown scan mode '{scan_mode_id}'"
            return None
        if scan_mode_name:
            for mode in modes.values():
                if mode.name == scan_mode_name:
                    return mode.id
            errors[f"{path}scanModeName"] = f"unknown scan mode '{scan_mode_name}'"
            return None
        errors[f"{path}scanModeId"] = "a scan mode is required"
        return None

    def _resolve_raw_scan_mode(
        self, modes: dict[str, ScanModeDTO], raw: dict[str, Any], path: str, errors: dict[str, str]
    ) -> str | None:
        """Resolve ``scanModeId``/``scanModeName`` of a raw object (a wrong type is msgspec's to report)."""
        scan_mode_id, scan_mode_name = raw.get("scanModeId"), raw.get("scanModeName")
        if not isinstance(scan_mode_id, str | None) or not isinstance(scan_mode_name, str | None):
            return None
        return self._resolve_scan_mode(modes, scan_mode_id, scan_mode_name, path, errors)
