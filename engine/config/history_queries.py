"""History queries in the store: the query row, its South and North settings (secrets sealed) and its items.

Validation follows connectors: the South and North settings against their types' manifests, every item's
settings against the South type's item settings, every bad field named at once. A query can be created
from an existing South and/or North: their stored settings, items and caching are copied, and a secret
the body leaves empty keeps the copied one (still encrypted, never shown).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

import msgspec
import structlog

from connectors.manifest import ConnectorManifest
from engine.cache.settings import CachingSettings
from engine.config.base import claim_id, from_json, now, random_id, require_object, to_json
from engine.config.connector_base import ConnectorStoreBase, Secrets
from engine.config.crypto import secret_shape
from engine.config.errors import NotFoundError, SettingsError
from engine.config.history_models import (
    HistoryItemCommand,
    HistoryItemDTO,
    HistoryQueryCommand,
    HistoryQueryDTO,
    HistoryQueryLightDTO,
    HistoryQueryStatus,
    QueryTimeRange,
)
from engine.config.history_transformers import check_north_transformers, north_transformer_dtos
from engine.config.manifests import Kind
from engine.config.models import SYSTEM_USER
from engine.config.validation import try_convert

log = structlog.get_logger(__name__)


def _instant(text: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _check_range(time_range: QueryTimeRange, errors: dict[str, str]) -> None:
    start, end = _instant(time_range.start_time), _instant(time_range.end_time)
    if start is None:
        errors["queryTimeRange.startTime"] = f"expected an ISO-8601 instant, got {time_range.start_time!r}"
    if end is None:
        errors["queryTimeRange.endTime"] = f"expected an ISO-8601 instant, got {time_range.end_time!r}"
    if start is not None and end is not None and end <= start:
        errors["queryTimeRange.endTime"] = "must be after startTime"


class HistoryQueryRepository(ConnectorStoreBase):
    """History queries (``store.history_queries``): where a history query, its items and its status are saved."""

    # --- Reading ------------------------------------------------------------------------------------------

    def list_history_queries(self) -> list[HistoryQueryLightDTO]:
        """Every history query, without settings, sorted by name."""
        with self._reading() as db:
            users = self._user_infos(db)
            rows = db.execute("SELECT * FROM history_queries ORDER BY name").fetchall()
            return [HistoryQueryLightDTO(**self._history_header(row, users)) for row in rows]

    def history_query_dto(self, history_id: str) -> HistoryQueryDTO:
        """A history query as the API shows it (every secret blank)."""
        with self._reading() as db:
            return self._history(db, history_id, "blank")

    def get_history_query(self, history_id: str) -> HistoryQueryDTO:
        """A history query with its secrets DECRYPTED (for its workers; never for the API)."""
        with self._reading() as db:
            return self._history(db, history_id, "reveal")

    def history_test_query(self, history_id: str, kind: Kind, raw_settings: Any | None) -> dict[str, Any]:
        """The query for a test of its South or North, every secret DECRYPTED (for a worker only).

        ``raw_settings``, when given, replace the stored ones (validated; an empty secret means the stored one).
        """
        query: dict[str, Any] = msgspec.to_builtins(self.get_history_query(history_id))
        if raw_settings is None:
            return query
        manifest = self.stored_manifest(kind, query[f"{kind}Type"])
        errors: dict[str, str] = {}
        settings = try_convert(raw_settings, manifest.settings, "settings", errors)
        if settings is None:
            raise SettingsError(errors)
        with self._reading() as db:
            stored = from_json(self._history_row(db, history_id)[f"{kind}_settings"])
        query[f"{kind}Settings"] = self._candidate(settings, stored, secret_shape(manifest.settings))
        return query

    def history_status(self, history_id: str) -> HistoryQueryStatus:
        """The stored status of a history query."""
        with self._reading() as db:
            row = self._history_row(db, history_id)
        status: HistoryQueryStatus = row["status"]
        return status

    def history_state(self, history_id: str) -> tuple[HistoryQueryStatus, str | None]:
        """The stored status of a history query and, when it is ERRORED, why."""
        with self._reading() as db:
            row = self._history_row(db, history_id)
        return row["status"], row["error"]

    # --- Changing -----------------------------------------------------------------------------------------

    def create_history_query(
        self,
        body: Any,
        *,
        from_south: str | None = None,
        from_north: str | None = None,
        from_history: str | None = None,
        actor: str = SYSTEM_USER,
    ) -> HistoryQueryDTO:
        """Validate and store a ``HistoryQueryCommand`` body (status PENDING).

        ``from_south``/``from_north``: copy that connector's type, settings (secrets kept) and items or caching
        into what the body leaves out. ``from_history``: an empty secret keeps that history query's.
        """
        history_id = random_id()
        with self._transaction() as db:
            raw, copied = self._history_copied(db, require_object(body), from_south, from_north)
            if from_history:
                source = self._history_row(db, from_history)
                copied = {kind: from_json(source[f"{kind}_settings"]) for kind in ("south", "north")} | copied
            command, columns, items = self._check_history(db, raw, None, copied)
            stamp = now()
            row = {"id": history_id, "status": "PENDING", **columns, **self._history_stamps(actor, stamp, created=True)}
            db.execute(
                f"INSERT INTO history_queries ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                tuple(row.values()),
            )
            self._write_history_items(db, history_id, items or [], actor, stamp)
        log.info("history_query_created", history_id=history_id, south=command.south_type, north=command.north_type)
        return self.history_query_dto(history_id)

    def update_history_query(self, history_id: str, body: Any, *, actor: str = SYSTEM_USER) -> None:
        """Replace a history query from a ``HistoryQueryCommand`` body (``items`` left out: items kept)."""
        with self._transaction() as db:
            stored = self._history_row(db, history_id)
            _, columns, items = self._check_history(db, require_object(body), stored, {})
            stamp = now()
            row = {**columns, **self._history_stamps(actor, stamp, created=False)}
            db.execute(
                f"UPDATE history_queries SET {', '.join(f'{column} = ?' for column in row)} WHERE id = ?",
                (*row.values(), history_id),
            )
            if items is not None:
                self._write_history_items(db, history_id, items, actor, stamp)
        log.info("history_query_updated", history_id=history_id)

    def delete_history_query(self, history_id: str) -> None:
        """Delete a history query and its items."""
        with self._transaction() as db:
            self._history_row(db, history_id)
            db.execute("DELETE FROM history_queries WHERE id = ?", (history_id,))
        log.info("history_query_deleted", history_id=history_id)

    def set_history_status(
        self, history_id: str, status: HistoryQueryStatus, *, error: str | None = None, actor: str = SYSTEM_USER
    ) -> None:
        """Persist the status (start: RUNNING, pause: PAUSED; the runtime sets FINISHED and ERRORED).

        ``error``: why the query is ERRORED, kept with it; any other status clears the reason.
        """
        reason = (error or "the query failed") if status == "ERRORED" else None
        with self._transaction() as db:
            self._history_row(db, history_id)
            db.execute(
                "UPDATE history_queries SET status = ?, error = ?, updated_by = ?, updated_at = ? WHERE id = ?",
                (status, reason, actor, now(), history_id),
            )
        log.info("history_query_status", history_id=history_id, status=status)

    # --- Items --------------------------------------------------------------------------------------------

    def history_south_manifest(self, history_id: str) -> ConnectorManifest:
        """The manifest of the query's South type (item settings, CSV columns)."""
        with self._reading() as db:
            row = self._history_row(db, history_id)
        return self.stored_manifest("south", row["south_type"])

    def save_history_item(
        self, history_id: str, body: Any, item_id: str | None = None, *, actor: str = SYSTEM_USER
    ) -> HistoryItemDTO:
        """Create an item, or replace item ``item_id``; the name is unique in the query."""
        with self._transaction() as db:
            row = self._history_row(db, history_id)
            stored = self._stored_history_items(db, history_id)
            if item_id is not None and item_id not in stored:
                raise NotFoundError(f"Item {item_id} not found in history query {history_id}")
            raw = {**require_object(body), "id": item_id}
            items = [value for key, value in stored.items() if key != item_id]
            try:
                checked = self._check_history_items(db, row["south_type"], [*items, raw], set(stored))
            except SettingsError as err:
                # The body is one item: name its fields as the body spells them, not by a place in the list.
                prefix = f"items[{len(items)}]."
                raise SettingsError(
                    {key.removeprefix(prefix): message for key, message in err.errors.items()}
                ) from None
            self._write_history_items(db, history_id, checked, actor, now())
            saved_id = checked[-1]["id"]
        return next(item for item in self.history_query_dto(history_id).items if item.id == saved_id)

    def set_history_item_enabled(self, history_id: str, item_id: str, enabled: bool) -> None:
        """Enable or disable one item."""
        with self._transaction() as db:
            changed = db.execute(
                "UPDATE history_items SET enabled = ?, updated_at = ? WHERE id = ? AND history_id = ?",
                (enabled, now(), item_id, history_id),
            ).rowcount
        if not changed:
            raise NotFoundError(f"Item {item_id} not found in history query {history_id}")

    def delete_history_items(self, history_id: str, item_ids: list[str] | None = None) -> None:
        """Delete the items ``item_ids`` (None: every item) of a query."""
        with self._transaction() as db:
            self._history_row(db, history_id)
            if item_ids is None:
                db.execute("DELETE FROM history_items WHERE history_id = ?", (history_id,))
                return
            for item_id in item_ids:
                if not db.execute(
                    "DELETE FROM history_items WHERE id = ? AND history_id = ?", (item_id, history_id)
                ).rowcount:
                    raise NotFoundError(f"Item {item_id} not found in history query {history_id}")

    def import_history_items(
        self, history_id: str, commands: list[dict[str, Any]], *, delete_missing: bool = False, actor: str = SYSTEM_USER
    ) -> int:
        """Create or update (by name) the items of ``commands``; ``delete_missing`` drops the others."""
        with self._transaction() as db:
            row = self._history_row(db, history_id)
            stored = self._stored_history_items(db, history_id)
            by_name = {item["name"]: item for item in stored.values()}
            kept = {} if delete_missing else dict(by_name)
            for command in commands:
                previous = by_name.get(command.get("name", ""))
                kept[command.get("name", "")] = {**command, "id": previous["id"] if previous else None}
            checked = self._check_history_items(db, row["south_type"], list(kept.values()), set(stored))
            self._write_history_items(db, history_id, checked, actor, now())
        return len(commands)

    # --- Checking -----------------------------------------------------------------------------------------

    def _history_copied(
        self, db: sqlite3.Connection, raw: dict[str, Any], from_south: str | None, from_north: str | None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Fill what the body leaves out from the named South/North; return it and their stored settings."""
        copied: dict[str, Any] = {}
        if from_south:
            south = self._stored_connector(db, "south", from_south)
            assert south is not None
            copied["south"] = from_json(south["settings"])
            raw = {"southType": south["type"], **raw}
            raw.setdefault("southSettings", self._shown(copied["south"], None, None, "blank"))
            if "items" not in raw:
                raw["items"] = [
                    {"name": item["name"], "enabled": bool(item["enabled"]), "settings": from_json(item["settings"])}
                    for item in db.execute("SELECT * FROM south_items WHERE connector_id = ?", (from_south,))
                ]
        if from_north:
            north = self._stored_connector(db, "north", from_north)
            assert north is not None
            copied["north"] = from_json(north["settings"])
            raw = {"northType": north["type"], **raw}
            raw.setdefault("northSettings", self._shown(copied["north"], None, None, "blank"))
            raw.setdefault("caching", from_json(north["caching"]))
        return raw, copied

    def _check_history(
        self, db: sqlite3.Connection, raw: dict[str, Any], stored: sqlite3.Row | None, copied: dict[str, Any]
    ) -> tuple[HistoryQueryCommand, dict[str, Any], list[dict[str, Any]] | None]:
        """Check a whole command; return it, the row's columns and the checked items (None: keep them)."""
        errors: dict[str, str] = {}
        command = try_convert(raw, HistoryQueryCommand, "", errors)
        name = raw.get("name")
        if (
            isinstance(name, str)
            and db.execute(
                "SELECT 1 FROM history_queries WHERE name = ? AND id != ?", (name, stored["id"] if stored else "")
            ).fetchone()
        ):
            errors["name"] = "already used by another history query"
        south = self._history_settings_of(raw, "south", stored, copied, errors)
        north = self._history_settings_of(raw, "north", stored, copied, errors)
        if command is not None:
            _check_range(command.query_time_range, errors)
        items: list[dict[str, Any]] | None = None
        if command is not None and command.items is not None and "southType" not in errors:
            try:
                stored_ids = set(self._stored_history_items(db, stored["id"])) if stored else set()
                items = self._check_history_items(
                    db, command.south_type, msgspec.to_builtins(command.items), stored_ids
                )
            except SettingsError as err:
                errors.update(err.errors)
        transformers = "[]"
        if command is not None:
            known = (
                items
                if items is not None
                else list(self._stored_history_items(db, stored["id"]).values())
                if stored
                else []
            )
            transformers = check_north_transformers(db, command.north_transformers, known, errors)
        if errors or command is None:
            raise SettingsError(errors)
        time_range = command.query_time_range
        columns = {
            "name": command.name,
            "description": command.description,
            "start_time": time_range.start_time,
            "end_time": time_range.end_time,
            "max_read_interval": time_range.max_read_interval,
            "read_delay": time_range.read_delay,
            "south_type": command.south_type,
            "south_settings": south,
            "north_type": command.north_type,
            "north_settings": north,
            "caching": to_json(command.caching),
            "north_transformers": transformers,
        }
        return command, columns, items

    def _history_settings_of(
        self,
        raw: dict[str, Any],
        kind: Kind,
        stored: sqlite3.Row | None,
        copied: dict[str, Any],
        errors: dict[str, str],
    ) -> str:
        """The stored JSON of ``southSettings``/``northSettings`` (secrets sealed; an empty one keeps the old)."""
        type_name = raw.get(f"{kind}Type")
        if not isinstance(type_name, str) or not type_name:
            return ""
        if stored is not None and stored[f"{kind}_type"] != type_name:
            was = stored[f"{kind}_type"]
            errors[f"{kind}Type"] = f"cannot change the {kind} type of a history query (it is '{was}')"
            return ""
        manifest = self._manifests.get(kind, type_name)
        if manifest is None:
            errors[f"{kind}Type"] = f"unknown {kind.capitalize()} connector type '{type_name}'"
            return ""
        if kind == "south" and not manifest.modes.history:
            errors["southType"] = f"South type '{type_name}' cannot read history"
            return ""
        settings = try_convert(raw.get(f"{kind}Settings"), manifest.settings, f"{kind}Settings", errors)
        if settings is None:
            return ""
        previous = copied.get(kind) if stored is None else from_json(stored[f"{kind}_settings"])
        return self._sealed(settings, previous, secret_shape(manifest.settings))

    def _check_history_items(
        self, db: sqlite3.Connection, south_type: str, raws: list[Any], reusable: set[str]
    ) -> list[dict[str, Any]]:
        """Check items (unique names, settings of the South type); return them as rows to write."""
        manifest = self._manifests.get("south", south_type)
        errors: dict[str, str] = {}
        checked: list[dict[str, Any]] = []
        names: set[str] = set()
        for index, raw in enumerate(raws):
            path = f"items[{index}]"
            command = try_convert(raw, HistoryItemCommand, path, errors)
            if command is None:
                continue
            if command.name in names:
                errors[f"{path}.name"] = f"another item is already named '{command.name}'"
            names.add(command.name)
            settings: Any = command.settings
            if manifest is not None and manifest.item_settings is not None:
                settings = try_convert(command.settings, manifest.item_settings, f"{path}.settings", errors)
            if settings is None:
                continue
            item_id = claim_id(command.id, reusable) or random_id()
            checked.append({"id": item_id, "name": command.name, "enabled": command.enabled, "settings": settings})
        if errors:
            raise SettingsError(errors)
        return checked

    # --- Rows ---------------------------------------------------------------------------------------------

    @staticmethod
    def _history_stamps(actor: str, stamp: str, *, created: bool) -> dict[str, str]:
        first = {"created_by": actor, "created_at": stamp} if created else {}
        return {**first, "updated_by": actor, "updated_at": stamp}

    @staticmethod
    def _history_row(db: sqlite3.Connection, history_id: str) -> sqlite3.Row:
        row: sqlite3.Row | None = db.execute("SELECT * FROM history_queries WHERE id = ?", (history_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"History query {history_id} not found")
        return row

    @staticmethod
    def _stored_history_items(db: sqlite3.Connection, history_id: str) -> dict[str, dict[str, Any]]:
        rows = db.execute("SELECT * FROM history_items WHERE history_id = ? ORDER BY name", (history_id,))
        return {
            row["id"]: {
                "id": row["id"],
                "name": row["name"],
                "enabled": bool(row["enabled"]),
                "settings": from_json(row["settings"]),
            }
            for row in rows
        }

    @staticmethod
    def _write_history_items(
        db: sqlite3.Connection, history_id: str, items: list[dict[str, Any]], actor: str, stamp: str
    ) -> None:
        """Replace the items of a query by ``items`` (audit fields kept for the ids that stay)."""
        created = {
            row[0]: (row[1], row[2])
            for row in db.execute(
                "SELECT id, created_by, created_at FROM history_items WHERE history_id = ?", (history_id,)
            )
        }
        db.execute("DELETE FROM history_items WHERE history_id = ?", (history_id,))
        db.executemany(
            "INSERT INTO history_items (id, history_id, name, enabled, settings, created_by, updated_by, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    item["id"],
                    history_id,
                    item["name"],
                    bool(item["enabled"]),
                    to_json(item["settings"]),
                    created.get(item["id"], (actor, stamp))[0],
                    actor,
                    created.get(item["id"], (actor, stamp))[1],
                    stamp,
                )
                for item in items
            ],
        )

    def _history_header(self, row: sqlite3.Row, users: Any) -> dict[str, Any]:
        return {
            "id": row["id"],
            "name": row["name"],
            "description": row["description"],
            "status": row["status"],
            "query_time_range": QueryTimeRange(
                start_time=row["start_time"],
                end_time=row["end_time"],
                max_read_interval=row["max_read_interval"],
                read_delay=row["read_delay"],
            ),
            "south_type": row["south_type"],
            "north_type": row["north_type"],
            "error": row["error"],
            **self._audit(row, users),
        }

    def _history(self, db: sqlite3.Connection, history_id: str, secrets: Secrets) -> HistoryQueryDTO:
        row = self._history_row(db, history_id)
        users = self._user_infos(db)
        shown: dict[str, Any] = {}
        for kind in ("south", "north"):
            manifest = self._manifests.get(kind, row[f"{kind}_type"])
            shape = secret_shape(manifest.settings) if manifest else None
            shown[kind] = self._shown(from_json(row[f"{kind}_settings"]), shape, manifest, secrets)
        items = [
            HistoryItemDTO(**{**item, **self._audit(item_row, users)})
            for item, item_row in zip(
                self._stored_history_items(db, history_id).values(),
                db.execute("SELECT * FROM history_items WHERE history_id = ? ORDER BY name", (history_id,)),
                strict=True,
            )
        ]
        return HistoryQueryDTO(
            **self._history_header(row, users),
            south_settings=shown["south"],
            north_settings=shown["north"],
            caching=msgspec.json.decode(row["caching"], type=CachingSettings),
            items=items,
            north_transformers=north_transformer_dtos(
                db, row["north_transformers"], {item.id: {"name": item.name, "enabled": item.enabled} for item in items}
            ),
        )
