"""Custom transformers in the store: JavaScript that OIAnalytics or an operator sends, run in the sandbox.

A North rule names one by id (``transformerId``), as it names a standard one by its function name; a custom
transformer still used by a rule cannot be deleted. Only ``javascript`` runs: upstream also accepts
``typescript`` (it transpiles it), which is refused here with a clear error rather than stored and failing
later.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import structlog

from connectors.errors import SettingsError
from engine.config.base import StoreBase, audit, from_json, now, random_id, require_object, to_json, user_infos
from engine.config.errors import NotFoundError, RefusedError
from engine.config.models import SYSTEM_USER, CustomTransformerCommand, CustomTransformerDTO, UserInfo
from engine.config.validation import try_convert

log = structlog.get_logger(__name__)


class CustomTransformerRepository(StoreBase):
    """Custom transformers (``store.custom_transformers``): CRUD; one a North rule uses cannot be deleted."""

    def list_custom_transformers(self) -> list[CustomTransformerDTO]:
        """Every custom transformer, by name."""
        with self._reading() as db:
            users = self._user_infos(db)
            return [_custom_dto(row, users) for row in db.execute("SELECT * FROM custom_transformers ORDER BY name")]

    def find_custom_transformer(self, transformer_id: str) -> CustomTransformerDTO | None:
        """One custom transformer, or ``None``."""
        with self._reading() as db:
            row = db.execute("SELECT * FROM custom_transformers WHERE id = ?", (transformer_id,)).fetchone()
            return None if row is None else _custom_dto(row, self._user_infos(db))

    def get_custom_transformer(self, transformer_id: str) -> CustomTransformerDTO:
        """One custom transformer (``NotFoundError`` if none)."""
        found = self.find_custom_transformer(transformer_id)
        if found is None:
            raise NotFoundError(f"Transformer {transformer_id} not found")
        return found

    def create_custom_transformer(self, body: Any, *, actor: str = SYSTEM_USER) -> CustomTransformerDTO:
        """Store a new custom transformer (its name must be new)."""
        new_id = random_id()
        with self._transaction() as db:
            command = check_custom_transformer(db, body, None)
            stamp = now()
            db.execute(
                "INSERT INTO custom_transformers (id, name, description, input_type, output_type, language, "
                "custom_code, custom_manifest, timeout, created_by, updated_by, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (new_id, *_columns(command), actor, actor, stamp, stamp),
            )
        log.info("custom_transformer_created", transformer_id=new_id, name=command.name)
        return self.get_custom_transformer(new_id)

    def update_custom_transformer(self, transformer_id: str, body: Any, *, actor: str = SYSTEM_USER) -> None:
        """Replace a custom transformer (the Norths using it pick the new code up on their next batch)."""
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM custom_transformers WHERE id = ?", (transformer_id,)).fetchone() is None:
                raise NotFoundError(f"Transformer {transformer_id} not found")
            command = check_custom_transformer(db, body, transformer_id)
            db.execute(
                "UPDATE custom_transformers SET name = ?, description = ?, input_type = ?, output_type = ?, "
                "language = ?, custom_code = ?, custom_manifest = ?, timeout = ?, updated_by = ?, updated_at = ? "
                "WHERE id = ?",
                (*_columns(command), actor, now(), transformer_id),
            )
        log.info("custom_transformer_updated", transformer_id=transformer_id, name=command.name)

    def delete_custom_transformer(self, transformer_id: str) -> None:
        """Delete a custom transformer no North rule uses."""
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM custom_transformers WHERE id = ?", (transformer_id,)).fetchone() is None:
                raise NotFoundError(f"Transformer {transformer_id} not found")
            users = db.execute(
                "SELECT DISTINCT north_id FROM north_transformers WHERE transformer_id = ?", (transformer_id,)
            ).fetchall()
            if users:
                names = ", ".join(sorted(row[0] for row in users))
                raise RefusedError(f"Transformer {transformer_id} is used by North connector(s) {names}")
            db.execute("DELETE FROM custom_transformers WHERE id = ?", (transformer_id,))
        log.info("custom_transformer_deleted", transformer_id=transformer_id)


def custom_transformer_dto(db: sqlite3.Connection, transformer_id: str) -> CustomTransformerDTO:
    """One stored custom transformer (``NotFoundError`` if none); a North's rules show theirs with it."""
    row = db.execute("SELECT * FROM custom_transformers WHERE id = ?", (transformer_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"Transformer {transformer_id} not found")
    return _custom_dto(row, user_infos(db))


def _custom_dto(row: sqlite3.Row, users: dict[str, UserInfo]) -> CustomTransformerDTO:
    return CustomTransformerDTO(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        input_type=row["input_type"],
        output_type=row["output_type"],
        custom_code=row["custom_code"],
        custom_manifest=from_json(row["custom_manifest"]),
        language=row["language"],
        timeout=row["timeout"],
        **audit(row, users),
    )


def is_custom_transformer(db: sqlite3.Connection, transformer_id: str) -> bool:
    """Whether ``transformer_id`` is a stored custom transformer."""
    return db.execute("SELECT 1 FROM custom_transformers WHERE id = ?", (transformer_id,)).fetchone() is not None


def check_custom_transformer(db: sqlite3.Connection, body: Any, own_id: str | None) -> CustomTransformerCommand:
    """Validate a command: shape, a JavaScript language, and a name no other custom transformer has."""
    errors: dict[str, str] = {}
    command = try_convert(require_object(body), CustomTransformerCommand, "", errors)
    if command is not None:
        if command.language != "javascript":
            errors["language"] = "only 'javascript' custom transformers run in this OIBus"
        clash = db.execute(
            "SELECT 1 FROM custom_transformers WHERE name = ? AND id != ?", (command.name, own_id or "")
        ).fetchone()
        if clash:
            errors["name"] = "already used by another transformer"
    if errors or command is None:
        raise SettingsError(errors)
    return command


def _columns(command: CustomTransformerCommand) -> tuple[Any, ...]:
    return (
        command.name,
        command.description or "",
        command.input_type,
        command.output_type,
        command.language,
        command.custom_code,
        to_json(command.custom_manifest),
        command.timeout,
    )
