"""Scan modes in the store: the seven seeded defaults, CRUD, and refusal to delete one in use."""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec
import structlog

from connectors.errors import SettingsError
from engine.config.base import StoreBase, now, random_id, require_object
from engine.config.errors import NotFoundError, RefusedError
from engine.config.models import SUBSCRIPTION_ID, SYSTEM_USER, ScanModeCommand, ScanModeDTO
from engine.config.validation import try_convert
from engine.scheduler import cron, timing
from engine.scheduler.verify import timing_errors

log = structlog.get_logger(__name__)

DEFAULT_SCAN_MODES: tuple[tuple[str, str, str], ...] = (
    ("Every second", "Trigger every second", "* * * * * *"),
    ("Every 10 seconds", "Trigger every 10 seconds", "*/10 * * * * *"),
    ("Every minute", "Trigger every minute", "0 * * * * *"),
    ("Every 10 minutes", "Trigger every 10 minutes", "0 */10 * * * *"),
    ("Every hour", "Trigger every hour", "0 0 * * * *"),
    ("Every 24 hours", "Trigger every 24 hours", "0 0 0 * * *"),
)


def seed_scan_modes(db: sqlite3.Connection) -> bool:
    """Insert the default scan modes when the table is empty; ``True`` if it did."""
    if db.execute("SELECT 1 FROM scan_modes LIMIT 1").fetchone():
        return False
    stamp = now()
    rows = [(random_id(), name, description, cron_) for name, description, cron_ in DEFAULT_SCAN_MODES]
    rows.append((SUBSCRIPTION_ID, "Subscription", "Subscription", ""))
    db.executemany(
        "INSERT INTO scan_modes (id, name, description, cron, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        [(*row, stamp, stamp) for row in rows],
    )
    log.info("scan_modes_seeded", count=len(rows))
    return True


def _timing_errors(command: ScanModeCommand) -> dict[str, str]:
    """Field-named problems of the cron or interval, and of the activation window."""
    scan_mode = timing.Timing(
        type=command.type, cron=command.cron, interval=command.interval, window=command.activation_window
    )
    return timing_errors(scan_mode)


def _timing_columns(command: ScanModeCommand) -> tuple[str, str, str | None, str | None]:
    """``type, cron, interval, activation_window`` as stored: a cron mode keeps no interval, and vice versa."""
    window = msgspec.json.encode(command.activation_window).decode() if command.activation_window else None
    if command.type == "interval":
        return "interval", "", msgspec.json.encode(command.interval).decode(), window
    return "cron", command.cron.strip(), None, window


class ScanModeRepository(StoreBase):
    """Scan modes (``store.scan_modes``): CRUD; one in use by a South or a North cannot be deleted."""

    def list_scan_modes(self) -> list[ScanModeDTO]:
        """Every scan mode, ``subscription`` included, sorted by name."""
        with self._reading() as db:
            return list(self._scan_modes(db, self._user_infos(db)).values())

    def get_scan_mode(self, scan_mode_id: str) -> ScanModeDTO:
        """One scan mode (``NotFoundError`` if none)."""
        with self._reading() as db:
            found = self._scan_modes(db, self._user_infos(db)).get(scan_mode_id)
        if found is None:
            raise NotFoundError(f"Scan mode {scan_mode_id} not found")
        return found

    def create_scan_mode(self, body: Any, *, actor: str = SYSTEM_USER) -> ScanModeDTO:
        """Store a new scan mode from a ``ScanModeCommand`` body."""
        new_id = random_id()
        with self._transaction() as db:
            command = self._check_scan_mode(db, body, None)
            stamp = now()
            db.execute(
                "INSERT INTO scan_modes (id, name, description, type, cron, interval, activation_window, "
                "created_by, updated_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (new_id, command.name, command.description, *_timing_columns(command), actor, actor, stamp, stamp),
            )
        log.info("scan_mode_created", scan_mode_id=new_id, name=command.name)
        return self.get_scan_mode(new_id)

    def update_scan_mode(self, scan_mode_id: str, body: Any, *, actor: str = SYSTEM_USER) -> ScanModeDTO:
        """Replace name, description and timing of a scan mode (never ``subscription``)."""
        with self._transaction() as db:
            self._editable(db, scan_mode_id, "changed")
            command = self._check_scan_mode(db, body, scan_mode_id)
            db.execute(
                "UPDATE scan_modes SET name = ?, description = ?, type = ?, cron = ?, interval = ?, "
                "activation_window = ?, updated_by = ?, updated_at = ? WHERE id = ?",
                (command.name, command.description, *_timing_columns(command), actor, now(), scan_mode_id),
            )
        log.info("scan_mode_updated", scan_mode_id=scan_mode_id, name=command.name)
        return self.get_scan_mode(scan_mode_id)

    def delete_scan_mode(self, scan_mode_id: str) -> None:
        """Delete an unused scan mode; ``RefusedError`` naming its users otherwise."""
        with self._transaction() as db:
            name = self._editable(db, scan_mode_id, "deleted")
            users = self._scan_mode_users(db, scan_mode_id)
            if users:
                raise RefusedError(f"Scan mode '{name}' is used by {', '.join(users)}")
            db.execute("DELETE FROM scan_modes WHERE id = ?", (scan_mode_id,))
        log.info("scan_mode_deleted", scan_mode_id=scan_mode_id, name=name)

    def _editable(self, db: sqlite3.Connection, scan_mode_id: str, action: str) -> str:
        row = db.execute("SELECT name FROM scan_modes WHERE id = ?", (scan_mode_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"Scan mode {scan_mode_id} not found")
        if scan_mode_id == SUBSCRIPTION_ID:
            raise RefusedError(f"The subscription scan mode cannot be {action}")
        name: str = row["name"]
        return name

    def _check_scan_mode(self, db: sqlite3.Connection, body: Any, own_id: str | None) -> ScanModeCommand:
        raw = require_object(body)
        errors: dict[str, str] = {}
        command = try_convert(raw, ScanModeCommand, "", errors)
        name = raw.get("name")
        if isinstance(name, str) and name:
            clash = db.execute("SELECT id FROM scan_modes WHERE name = ? AND id != ?", (name, own_id or "")).fetchone()
            if clash:
                errors["name"] = "already used by another scan mode"
        if command is not None:
            errors.update(_timing_errors(command))
        elif raw.get("type", "cron") == "cron" and isinstance(raw.get("cron"), str):
            # The body is wrong elsewhere: still say what is wrong with its cron, every error at once.
            errors.update(cron.errors(raw["cron"]))
        if errors or command is None:
            raise SettingsError(errors)
        return command

    @staticmethod
    def _scan_mode_users(db: sqlite3.Connection, scan_mode_id: str) -> list[str]:
        """Who uses a scan mode, for the refusal message (``South 'A' (3 items)``...)."""
        users = [
            f"South '{row[0]}' ({row[1]} item{'s' if row[1] > 1 else ''})"
            for row in db.execute(
                "SELECT c.name, COUNT(*) FROM south_items i JOIN south_connectors c ON c.id = i.connector_id "
                "WHERE i.scan_mode_id = ? GROUP BY c.id ORDER BY c.name",
                (scan_mode_id,),
            )
        ]
        users += [
            f"South '{row[0]}' (group '{row[1]}')"
            for row in db.execute(
                "SELECT c.name, g.name FROM south_item_groups g "
                "JOIN south_connectors c ON c.id = g.connector_id "
                "WHERE g.scan_mode_id = ? ORDER BY c.name, g.name",
                (scan_mode_id,),
            )
        ]
        users += [
            f"North '{row[0]}' (caching trigger)"
            for row in db.execute(
                "SELECT name FROM north_connectors WHERE caching_scan_mode_id = ? ORDER BY name",
                (scan_mode_id,),
            )
        ]
        return users
