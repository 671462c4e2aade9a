"""External sources in the store: the names other OIBus engines send data under (upstream 3.0-3.4).

A 3.0-3.4 ``oibus`` North posts to ``/api/add-values?name=<name>`` and a v2 ``OIConnect`` to
``/engine/addValues?name=<OIBus>:<North>``; the receiving engine takes such data only when an external source
with that ``reference`` exists, and refuses it (with a log line) otherwise, where upstream silently dropped
it. A North subscribes to an external source with a ``transformers[]`` rule ``{"source": {"type":
"oibus-api", "dataSourceId": <reference>}}``. ``external_source_references()`` is an in-memory set that each
change replaces, so a lookup on every ingestion costs no query.
"""

from __future__ import annotations

import sqlite3
from typing import Annotated, Any

import msgspec
import structlog

from connectors.errors import SettingsError
from engine.config.base import Database, StoreBase, now, random_id, require_object
from engine.config.errors import NotFoundError
from engine.config.models import NAME_MAX_LENGTH, SYSTEM_USER, Audited, Model, Text, UserInfo
from engine.config.validation import try_convert

log = structlog.get_logger(__name__)

Reference = Annotated[str, msgspec.Meta(min_length=1, max_length=NAME_MAX_LENGTH)]


class ExternalSourceCommand(Model, frozen=True, kw_only=True):
    """Body of ``POST/PUT /api/external-sources``: the ``name`` a remote OIBus sends its data under."""

    reference: Reference
    description: Text | None = ""


class ExternalSourceDTO(Audited, frozen=True, kw_only=True):
    """A name remote OIBus engines may send data under on the 3.0-3.4 and v2 ingestion paths."""

    id: str
    reference: str
    description: str


class ExternalSourceRepository(StoreBase):
    """External sources (``store.external_sources``): CRUD and the in-memory references."""

    _external_references: frozenset[str]

    def __init__(self, database: Database) -> None:
        super().__init__(database)
        self._load_external_sources()

    def external_source_references(self) -> frozenset[str]:
        """The stored references (memory only; a new set after every change)."""
        return self._external_references

    def list_external_sources(self) -> list[ExternalSourceDTO]:
        """Every external source, by reference."""
        with self._reading() as db:
            users = self._user_infos(db)
            rows = db.execute("SELECT * FROM external_sources ORDER BY reference")
            return [self._external_source_dto(row, users) for row in rows]

    def get_external_source(self, source_id: str) -> ExternalSourceDTO:
        """One external source (``NotFoundError`` if none)."""
        with self._reading() as db:
            row = db.execute("SELECT * FROM external_sources WHERE id = ?", (source_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"External source {source_id} not found")
            return self._external_source_dto(row, self._user_infos(db))

    def create_external_source(self, body: Any, *, actor: str = SYSTEM_USER) -> ExternalSourceDTO:
        """Store a new external source (its reference must be new)."""
        new_id = random_id()
        with self._transaction() as db:
            command = self._check_external_source(db, body, None)
            stamp = now()
            db.execute(
                "INSERT INTO external_sources (id, reference, description, created_by, updated_by, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (new_id, command.reference, command.description or "", actor, actor, stamp, stamp),
            )
        self._load_external_sources()
        log.info("external_source_created", external_source_id=new_id, reference=command.reference)
        return self.get_external_source(new_id)

    def update_external_source(self, source_id: str, body: Any, *, actor: str = SYSTEM_USER) -> None:
        """Replace the reference and description of an external source."""
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM external_sources WHERE id = ?", (source_id,)).fetchone() is None:
                raise NotFoundError(f"External source {source_id} not found")
            command = self._check_external_source(db, body, source_id)
            db.execute(
                "UPDATE external_sources SET reference = ?, description = ?, updated_by = ?, updated_at = ? "
                "WHERE id = ?",
                (command.reference, command.description or "", actor, now(), source_id),
            )
        self._load_external_sources()
        log.info("external_source_updated", external_source_id=source_id, reference=command.reference)

    def delete_external_source(self, source_id: str) -> None:
        """Delete an external source: data sent under its reference is refused from then on."""
        with self._transaction() as db:
            row = db.execute("SELECT reference FROM external_sources WHERE id = ?", (source_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"External source {source_id} not found")
            db.execute("DELETE FROM external_sources WHERE id = ?", (source_id,))
        self._load_external_sources()
        log.info("external_source_deleted", external_source_id=source_id, reference=row["reference"])

    def _load_external_sources(self) -> None:
        with self._lock:
            rows = self._db.execute("SELECT reference FROM external_sources").fetchall()
            self._external_references = frozenset(row["reference"] for row in rows)

    @staticmethod
    def _check_external_source(db: sqlite3.Connection, body: Any, own_id: str | None) -> ExternalSourceCommand:
        raw = require_object(body)
        errors: dict[str, str] = {}
        command = try_convert(raw, ExternalSourceCommand, "", errors)
        if command is not None:
            clash = db.execute(
                "SELECT 1 FROM external_sources WHERE reference = ? AND id != ?", (command.reference, own_id or "")
            ).fetchone()
            if clash:
                errors["reference"] = "already used by another external source"
        if errors or command is None:
            raise SettingsError(errors)
        return command

    def _external_source_dto(self, row: sqlite3.Row, users: dict[str, UserInfo]) -> ExternalSourceDTO:
        return ExternalSourceDTO(
            id=row["id"], reference=row["reference"], description=row["description"], **self._audit(row, users)
        )
