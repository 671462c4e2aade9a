"""IP filters in the store: the addresses (``*`` wildcards) allowed to reach the web server besides loopback.

The API's IP filter reads ``ip_filter_addresses()`` on every request: an in-memory tuple that each change
replaces, so a new filter applies to the next request without a restart (3.8.8 needed one).
"""

from __future__ import annotations

import sqlite3
from typing import Any

import structlog

from connectors.errors import SettingsError
from engine.config.base import Database, StoreBase, now, random_id, require_object
from engine.config.errors import NotFoundError
from engine.config.models import SYSTEM_USER, IpFilterCommand, IpFilterDTO, UserInfo
from engine.config.validation import try_convert

log = structlog.get_logger(__name__)


class IpFilterRepository(StoreBase):
    """IP filters (``store.ip_filters``): CRUD and the in-memory addresses the web server checks."""

    _ip_filter_addresses: tuple[str, ...]

    def __init__(self, database: Database) -> None:
        super().__init__(database)
        self._load_ip_filters()

    def ip_filter_addresses(self) -> tuple[str, ...]:
        """The stored addresses (memory only; a new tuple after every change)."""
        return self._ip_filter_addresses

    def list_ip_filters(self) -> list[IpFilterDTO]:
        """Every IP filter, by address."""
        with self._reading() as db:
            users = self._user_infos(db)
            return [self._ip_filter_dto(row, users) for row in db.execute("SELECT * FROM ip_filters ORDER BY address")]

    def get_ip_filter(self, ip_filter_id: str) -> IpFilterDTO:
        """One IP filter (``NotFoundError`` if none)."""
        with self._reading() as db:
            row = db.execute("SELECT * FROM ip_filters WHERE id = ?", (ip_filter_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"IP filter {ip_filter_id} not found")
            return self._ip_filter_dto(row, self._user_infos(db))

    def create_ip_filter(self, body: Any, *, actor: str = SYSTEM_USER) -> IpFilterDTO:
        """Store a new IP filter from an ``IpFilterCommand`` body (the address must be new)."""
        new_id = random_id()
        with self._transaction() as db:
            command = self._check_ip_filter(db, body, None)
            stamp = now()
            db.execute(
                "INSERT INTO ip_filters (id, address, description, created_by, updated_by, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (new_id, command.address, command.description or "", actor, actor, stamp, stamp),
            )
        self._load_ip_filters()
        log.info("ip_filter_created", ip_filter_id=new_id, address=command.address)
        return self.get_ip_filter(new_id)

    def update_ip_filter(self, ip_filter_id: str, body: Any, *, actor: str = SYSTEM_USER) -> IpFilterDTO:
        """Replace the address and description of an IP filter."""
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM ip_filters WHERE id = ?", (ip_filter_id,)).fetchone() is None:
                raise NotFoundError(f"IP filter {ip_filter_id} not found")
            command = self._check_ip_filter(db, body, ip_filter_id)
            db.execute(
                "UPDATE ip_filters SET address = ?, description = ?, updated_by = ?, updated_at = ? WHERE id = ?",
                (command.address, command.description or "", actor, now(), ip_filter_id),
            )
        self._load_ip_filters()
        log.info("ip_filter_updated", ip_filter_id=ip_filter_id, address=command.address)
        return self.get_ip_filter(ip_filter_id)

    def delete_ip_filter(self, ip_filter_id: str) -> None:
        """Delete an IP filter (clients it admitted are refused from their next request)."""
        with self._transaction() as db:
            row = db.execute("SELECT address FROM ip_filters WHERE id = ?", (ip_filter_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"IP filter {ip_filter_id} not found")
            db.execute("DELETE FROM ip_filters WHERE id = ?", (ip_filter_id,))
        self._load_ip_filters()
        log.info("ip_filter_deleted", ip_filter_id=ip_filter_id, address=row["address"])

    def _load_ip_filters(self) -> None:
        with self._lock:
            rows = self._db.execute("SELECT address FROM ip_filters ORDER BY address").fetchall()
            self._ip_filter_addresses = tuple(row["address"] for row in rows)

    @staticmethod
    def _check_ip_filter(db: sqlite3.Connection, body: Any, own_id: str | None) -> IpFilterCommand:
        raw = require_object(body)
        errors: dict[str, str] = {}
        command = try_convert(raw, IpFilterCommand, "", errors)
        address = raw.get("address")
        if isinstance(address, str) and address:
            clash = db.execute(
                "SELECT 1 FROM ip_filters WHERE address = ? AND id != ?", (address, own_id or "")
            ).fetchone()
            if clash:
                errors["address"] = "already used by another IP filter"
        if errors or command is None:
            raise SettingsError(errors)
        return command

    def _ip_filter_dto(self, row: sqlite3.Row, users: dict[str, UserInfo]) -> IpFilterDTO:
        return IpFilterDTO(
            id=row["id"], address=row["address"], description=row["description"], **self._audit(row, users)
        )
