"""Shared plumbing of the configuration store: connection, transactions, ids, audit fields, lookups."""

from __future__ import annotations

import secrets
import sqlite3
import string
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import msgspec

from connectors.errors import SettingsError
from engine.config.crypto import SecretBox
from engine.config.manifests import ManifestSource
from engine.config.models import SYSTEM_USER, ScanModeDTO, UserInfo

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


class StoreBase:
    """State and helpers every part of the store uses.

    One SQLite connection, shared by the threads the API offloads work to, serialised by ``_lock``. Every
    change runs in one ``BEGIN IMMEDIATE`` transaction: a failure anywhere stores nothing.
    """

    _db: sqlite3.Connection
    _lock: threading.RLock
    _box: SecretBox
    _manifests: ManifestSource

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        # A read transaction gives a consistent snapshot across the several queries of one DTO.
        with self._lock:
            self._db.execute("BEGIN")
            try:
                yield self._db
            finally:
                self._db.execute("COMMIT")

    def _user_infos(self, db: sqlite3.Connection) -> dict[str, UserInfo]:
        infos = {SYSTEM_USER: UserInfo(id=SYSTEM_USER, friendly_name=SYSTEM_USER)}
        for row in db.execute("SELECT id, login, first_name, last_name FROM users"):
            infos[row["id"]] = UserInfo(
                id=row["id"], friendly_name=friendly_name(row["login"], row["first_name"], row["last_name"])
            )
        return infos

    @staticmethod
    def _audit(row: sqlite3.Row, users: dict[str, UserInfo]) -> dict[str, Any]:
        """Return the audit keyword arguments of a DTO built from ``row``."""
        return {
            "created_by": users.get(row["created_by"], UserInfo(id=row["created_by"], friendly_name="")),
            "updated_by": users.get(row["updated_by"], UserInfo(id=row["updated_by"], friendly_name="")),
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }

    def _scan_modes(self, db: sqlite3.Connection, users: dict[str, UserInfo]) -> dict[str, ScanModeDTO]:
        """Every scan mode by id."""
        return {
            row["id"]: ScanModeDTO(
                id=row["id"],
                name=row["name"],
                description=row["description"],
                cron=row["cron"],
                **self._audit(row, users),
            )
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
