"""South connectors in the store: connector, groups and items, validated against the type's manifest."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Sequence
from typing import Any

import structlog

from connectors.errors import SettingsError
from engine.config import south_rows
from engine.config.base import PAGE_SIZE, contains_pattern, from_json, now, random_id
from engine.config.connector_base import Secrets, command_columns
from engine.config.crypto import secret_shape
from engine.config.errors import NotFoundError
from engine.config.models import (
    SYSTEM_USER,
    GroupStandardSettingsDTO,
    Page,
    ScanModeDTO,
    SouthConnectorDTO,
    SouthConnectorLightDTO,
    SouthGroupDTO,
    SouthGroupLightDTO,
    SouthItemDTO,
    UserInfo,
)
from engine.config.south_checks import stored_history
from engine.config.south_import import SouthImportMixin
from engine.config.validation import convert

log = structlog.get_logger(__name__)

_ITEM_COLUMNS = (
    "id, connector_id, name, enabled, settings, scan_mode_id, group_id, sync_with_group, max_read_interval, "
    "read_delay, start_time_offset, end_time_offset, recovery_strategy, created_by, updated_by, created_at, "
    "updated_at"
)

# The columns the items table may be sorted by (``sort=``), each an SQL expression over ``south_items``; the
# item's name breaks ties so that paging is stable.
ITEM_SORTS: dict[str, str] = {
    "name": "name",
    "enabled": "enabled",
    "scanMode": "(SELECT name FROM scan_modes WHERE scan_modes.id = south_items.scan_mode_id)",
    "group": "(SELECT name FROM south_item_groups g WHERE g.id = south_items.group_id)",
}


class SouthRepository(SouthImportMixin):
    """South connectors (``store.souths``): where a South, its groups and its items are saved (and imported)."""

    # --- Connectors -------------------------------------------------------------------------------------

    def list_souths(self) -> list[SouthConnectorLightDTO]:
        """Every South, without settings or items, sorted by name."""
        return self._list_connectors("south", SouthConnectorLightDTO)

    def get_south(self, south_id: str) -> SouthConnectorDTO:
        """Return a South with its groups and items, secrets DECRYPTED (for its worker; never for the API)."""
        with self._reading() as db:
            return self._south(db, south_id, secrets="reveal")

    def south_dto(self, south_id: str) -> SouthConnectorDTO:
        """Return a South with its groups and items as the API shows it (every secret blank)."""
        with self._reading() as db:
            return self._south(db, south_id, secrets="blank")

    def create_south(self, body: Any, *, actor: str = SYSTEM_USER) -> SouthConnectorDTO:
        """Validate and store a ``SouthCommand`` body with its groups and items (one transaction)."""
        south_id = random_id()
        with self._transaction() as db:
            command, _, groups, items, settings = self._check_south(db, body, None)
            stamp = now()
            columns = {"type": command.type, **command_columns(command, settings)}
            self._insert_connector(db, "south", south_id, columns, actor, stamp)
            south_rows.write_groups(db, south_id, groups or [], actor, stamp)
            south_rows.write_items(db, south_id, items or [], actor, stamp)
        log.info("south_created", south_id=south_id, type=command.type, items=len(items or []))
        return self.south_dto(south_id)

    def update_south(self, south_id: str, body: Any, *, actor: str = SYSTEM_USER) -> tuple[str, ...]:
        """Replace a South from a ``SouthCommand`` body; returns the Norths whose routing it touched.

        ``items``/``groups`` given are the complete sets (the others are deleted); left out, they stay.
        """
        with self._transaction() as db:
            self._require_connector(db, "south", south_id)
            command, ctx, groups, items, settings = self._check_south(db, body, south_id)
            stamp = now()
            self._update_connector(db, "south", south_id, command_columns(command, settings), actor, stamp)
            affected = south_rows.routing_norths(db, south_id)
            if groups is not None:
                kept = {group.id for group in groups}
                south_rows.delete_groups(db, south_id, [gid for gid in ctx.stored_groups if gid not in kept])
                south_rows.write_groups(db, south_id, groups, actor, stamp)
            if items is not None:
                kept = {item.id for item in items}
                south_rows.delete_items(db, south_id, [iid for iid in ctx.stored_items if iid not in kept])
                south_rows.write_items(db, south_id, items, actor, stamp)
            south_rows.drop_empty_rules(db)
        log.info("south_updated", south_id=south_id, items=None if items is None else len(items))
        return affected

    def delete_south(self, south_id: str) -> tuple[str, ...]:
        """Delete a South, its groups and items; returns the Norths that routed from it."""
        with self._transaction() as db:
            self._require_connector(db, "south", south_id)
            affected = south_rows.routing_norths(db, south_id)
            db.execute("DELETE FROM south_connectors WHERE id = ?", (south_id,))
            south_rows.drop_empty_rules(db)
        log.info("south_deleted", south_id=south_id)
        return affected

    def routing_norths(self, south_id: str) -> tuple[str, ...]:
        """Return the Norths with a routing rule that names this South (to reconcile after a change)."""
        with self._reading() as db:
            return south_rows.routing_norths(db, south_id)

    def set_south_enabled(self, south_id: str, enabled: bool, *, actor: str = SYSTEM_USER) -> None:
        """Persist ``enabled`` (``POST /api/south/{id}/start|stop``)."""
        self._set_connector_enabled("south", south_id, enabled, actor)
        log.info("south_enabled_set", south_id=south_id, enabled=enabled)

    # --- Items ------------------------------------------------------------------------------------------

    def list_items(self, south_id: str) -> list[SouthItemDTO]:
        """Every item of a South as the API shows it, sorted by name."""
        with self._reading() as db:
            self._require_connector(db, "south", south_id)
            return self._items(db, south_id, "WHERE connector_id = ? ORDER BY name", (south_id,), "blank")

    def search_items(
        self,
        south_id: str,
        *,
        name: str | None = None,
        scan_mode_id: str | None = None,
        enabled: bool | None = None,
        page: int = 0,
        sort: str = "name",
        descending: bool = False,
    ) -> Page[SouthItemDTO]:
        """One page (50 items) of the items whose name contains ``name`` and match the other filters.

        ``sort`` names a column of ``ITEM_SORTS`` (``SettingsError`` for another), ``descending`` its order.
        """
        if sort not in ITEM_SORTS:
            raise SettingsError({"sort": f"unknown sort column '{sort}', expected one of {', '.join(ITEM_SORTS)}"})
        order = f"{ITEM_SORTS[sort]} {'DESC' if descending else 'ASC'}, name"
        clauses: list[str] = ["connector_id = ?"]
        params: list[Any] = [south_id]
        if name:
            clauses.append("name LIKE ? ESCAPE '\\'")
            params.append(contains_pattern(name))
        if scan_mode_id:
            clauses.append("scan_mode_id = ?")
            params.append(scan_mode_id)
        if enabled is not None:
            clauses.append("enabled = ?")
            params.append(int(enabled))
        where = " AND ".join(clauses)
        page = max(page, 0)
        with self._reading() as db:
            self._require_connector(db, "south", south_id)
            total = int(db.execute(f"SELECT COUNT(*) FROM south_items WHERE {where}", params).fetchone()[0])
            content = self._items(
                db,
                south_id,
                f"WHERE {where} ORDER BY {order} LIMIT {PAGE_SIZE} OFFSET {page * PAGE_SIZE}",
                params,
                "blank",
            )
        return Page(
            content=content,
            size=PAGE_SIZE,
            number=page,
            total_elements=total,
            total_pages=math.ceil(total / PAGE_SIZE),
        )

    def get_item(self, south_id: str, item_id: str) -> SouthItemDTO:
        """One item as the API shows it."""
        with self._reading() as db:
            self._require_connector(db, "south", south_id)
            found = self._items(db, south_id, "WHERE connector_id = ? AND id = ?", (south_id, item_id), "blank")
        if not found:
            raise NotFoundError(f"Item {item_id} not found in South {south_id}")
        return found[0]

    def candidate_item_settings(
        self, south_id: str, raw: Any, *, item_id: str | None = None, type_name: str | None = None
    ) -> dict[str, Any]:
        """Validate item settings to test (``POST .../items/test``) against the South's manifest.

        With ``item_id`` (a stored item), an empty secret means that item's stored one. The result has every
        secret DECRYPTED: for the South's worker only. Raises ``NotFoundError`` or ``SettingsError``.
        """
        with self._reading() as db:
            stored = self._stored_connector(db, "south", south_id)
            assert stored is not None  # _stored_connector raises for an unknown id
            previous = None
            if item_id is not None:
                row = db.execute(
                    "SELECT settings FROM south_items WHERE connector_id = ? AND id = ?", (south_id, item_id)
                ).fetchone()
                if row is None:
                    raise NotFoundError(f"Item {item_id} not found in South {south_id}")
                previous = from_json(row["settings"])
        manifest = self.stored_manifest("south", stored["type"], type_name)
        if manifest.item_settings is None:
            raise SettingsError({"itemSettings": f"South type '{manifest.id}' has no items"})
        settings = convert(raw, manifest.item_settings, path="itemSettings")
        return self._candidate(settings, previous, secret_shape(manifest.item_settings))

    def create_item(self, south_id: str, body: Any, *, actor: str = SYSTEM_USER) -> SouthItemDTO:
        """Add one item (``SouthItemCommand`` body)."""
        return self._save_item(south_id, None, body, actor)

    def update_item(self, south_id: str, item_id: str, body: Any, *, actor: str = SYSTEM_USER) -> SouthItemDTO:
        """Replace one item (an empty secret keeps the stored one)."""
        return self._save_item(south_id, item_id, body, actor)

    def _save_item(self, south_id: str, item_id: str | None, body: Any, actor: str) -> SouthItemDTO:
        with self._transaction() as db:
            item = self._check_single_item(db, south_id, body, item_id)
            south_rows.write_items(db, south_id, [item], actor, now())
        event = "south_item_created" if item_id is None else "south_item_updated"
        log.info(event, south_id=south_id, item_id=item.id)
        return self.get_item(south_id, item.id)

    def set_items_enabled(
        self, south_id: str, item_ids: Sequence[str], enabled: bool, *, actor: str = SYSTEM_USER
    ) -> None:
        """Enable or disable items (each must belong to the South)."""
        with self._transaction() as db:
            self._require_items(db, south_id, item_ids)
            db.executemany(
                "UPDATE south_items SET enabled = ?, updated_by = ?, updated_at = ? WHERE id = ?",
                [(enabled, actor, now(), item_id) for item_id in item_ids],
            )
        log.info("south_items_enabled_set", south_id=south_id, count=len(item_ids), enabled=enabled)

    def move_items_to_group(
        self, south_id: str, item_ids: Sequence[str], group_id: str | None, *, actor: str = SYSTEM_USER
    ) -> None:
        """Put items into one group of their South (they take its scan mode), or out of any with ``None``.

        Items taken out of a group keep the scan mode they had and stop syncing with a group.
        """
        with self._transaction() as db:
            self._require_items(db, south_id, item_ids)
            stamp = now()
            if group_id is None:
                db.executemany(
                    "UPDATE south_items SET group_id = NULL, sync_with_group = 0, updated_by = ?, updated_at = ? "
                    "WHERE id = ?",
                    [(actor, stamp, item_id) for item_id in item_ids],
                )
            else:
                row = db.execute(
                    "SELECT scan_mode_id FROM south_item_groups WHERE id = ? AND connector_id = ?",
                    (group_id, south_id),
                ).fetchone()
                if row is None:
                    raise NotFoundError(f"Group {group_id} not found in South {south_id}")
                db.executemany(
                    "UPDATE south_items SET group_id = ?, scan_mode_id = ?, updated_by = ?, updated_at = ? "
                    "WHERE id = ?",
                    [(group_id, row[0], actor, stamp, item_id) for item_id in item_ids],
                )
        log.info("south_items_moved", south_id=south_id, count=len(item_ids), group_id=group_id)

    def delete_items(self, south_id: str, item_ids: Sequence[str]) -> tuple[str, ...]:
        """Delete items (each must belong to the South); returns the Norths that routed from the South."""
        with self._transaction() as db:
            self._require_items(db, south_id, item_ids)
            affected = south_rows.routing_norths(db, south_id)
            south_rows.delete_items(db, south_id, item_ids)
            south_rows.drop_empty_rules(db)
        log.info("south_items_deleted", south_id=south_id, count=len(item_ids))
        return affected

    def delete_all_items(self, south_id: str) -> tuple[str, ...]:
        """Delete every item of a South; returns the Norths that routed from it."""
        with self._transaction() as db:
            self._require_connector(db, "south", south_id)
            affected = south_rows.routing_norths(db, south_id)
            count = db.execute("DELETE FROM south_items WHERE connector_id = ?", (south_id,)).rowcount
            south_rows.drop_empty_rules(db)
        log.info("south_items_deleted", south_id=south_id, count=count)
        return affected

    # --- Groups -----------------------------------------------------------------------------------------

    def list_groups(self, south_id: str) -> list[SouthGroupDTO]:
        """Return the groups of a South, sorted by name."""
        with self._reading() as db:
            self._require_connector(db, "south", south_id)
            users = self._user_infos(db)
            return self._groups(db, south_id, self._scan_modes(db, users), users)

    def get_group(self, south_id: str, group_id: str) -> SouthGroupDTO:
        """One group of a South."""
        for group in self.list_groups(south_id):
            if group.id == group_id:
                return group
        raise NotFoundError(f"Group {group_id} not found in South {south_id}")

    def create_group(self, south_id: str, body: Any, *, actor: str = SYSTEM_USER) -> SouthGroupDTO:
        """Add a group (``SouthGroupCommand`` body)."""
        return self._save_group(south_id, None, body, actor)

    def update_group(self, south_id: str, group_id: str, body: Any, *, actor: str = SYSTEM_USER) -> SouthGroupDTO:
        """Replace a group; its items follow its scan mode."""
        return self._save_group(south_id, group_id, body, actor)

    def _save_group(self, south_id: str, group_id: str | None, body: Any, actor: str) -> SouthGroupDTO:
        with self._transaction() as db:
            group = self._check_single_group(db, south_id, body, group_id)
            south_rows.write_groups(db, south_id, [group], actor, now())
        event = "south_group_created" if group_id is None else "south_group_updated"
        log.info(event, south_id=south_id, group_id=group.id)
        return self.get_group(south_id, group.id)

    def delete_group(self, south_id: str, group_id: str) -> tuple[str, ...]:
        """Delete a group (its items stay, ungrouped, with the group's scan mode)."""
        with self._transaction() as db:
            self._require_connector(db, "south", south_id)
            if not db.execute(
                "SELECT 1 FROM south_item_groups WHERE id = ? AND connector_id = ?", (group_id, south_id)
            ).fetchone():
                raise NotFoundError(f"Group {group_id} not found in South {south_id}")
            affected = south_rows.routing_norths(db, south_id)
            south_rows.delete_groups(db, south_id, [group_id])
        log.info("south_group_deleted", south_id=south_id, group_id=group_id)
        return affected

    # --- Writing ------------------------------------------------------------------------------------------

    def _require_items(self, db: sqlite3.Connection, south_id: str, item_ids: Sequence[str]) -> None:
        self._require_connector(db, "south", south_id)
        known = {row[0] for row in db.execute("SELECT id FROM south_items WHERE connector_id = ?", (south_id,))}
        errors = {f"[{index}]": f"unknown item '{iid}'" for index, iid in enumerate(item_ids) if iid not in known}
        if errors:
            raise SettingsError(errors)

    # --- Reading ------------------------------------------------------------------------------------------

    def _south(self, db: sqlite3.Connection, south_id: str, *, secrets: Secrets) -> SouthConnectorDTO:
        _, fields, users = self._read_connector(db, "south", south_id, secrets)
        modes = self._scan_modes(db, users)
        return SouthConnectorDTO(
            **fields,
            groups=self._groups(db, south_id, modes, users),
            items=self._items(db, south_id, "WHERE connector_id = ? ORDER BY name", (south_id,), secrets),
        )

    def _groups(
        self, db: sqlite3.Connection, south_id: str, modes: dict[str, ScanModeDTO], users: dict[str, UserInfo]
    ) -> list[SouthGroupDTO]:
        return [
            SouthGroupDTO(
                id=row["id"],
                standard_settings=GroupStandardSettingsDTO(name=row["name"], scan_mode=modes[row["scan_mode_id"]]),
                history_settings=stored_history(row),
                **self._audit(row, users),
            )
            for row in db.execute("SELECT * FROM south_item_groups WHERE connector_id = ? ORDER BY name", (south_id,))
        ]

    def _items(
        self, db: sqlite3.Connection, south_id: str, where: str, params: Sequence[Any], secrets: Secrets
    ) -> list[SouthItemDTO]:
        users = self._user_infos(db)
        modes = self._scan_modes(db, users)
        groups = {
            row["id"]: SouthGroupLightDTO(id=row["id"], name=row["name"], scan_mode=modes[row["scan_mode_id"]])
            for row in db.execute(
                "SELECT id, name, scan_mode_id FROM south_item_groups WHERE connector_id = ?", (south_id,)
            )
        }
        type_row = db.execute("SELECT type FROM south_connectors WHERE id = ?", (south_id,)).fetchone()
        manifest = self._manifests.get("south", type_row["type"]) if type_row else None
        shape = secret_shape(manifest.item_settings) if manifest and manifest.item_settings else None
        plain = manifest is not None and shape is None
        return [
            SouthItemDTO(
                id=row["id"],
                name=row["name"],
                enabled=bool(row["enabled"]),
                settings=(
                    from_json(row["settings"])
                    if plain
                    else self._shown(from_json(row["settings"]), shape, manifest, secrets)
                ),
                scan_mode=modes[row["scan_mode_id"]],
                group=groups.get(row["group_id"]) if row["group_id"] else None,
                sync_with_group=bool(row["sync_with_group"]),
                max_read_interval=row["max_read_interval"],
                read_delay=row["read_delay"],
                start_time_offset=row["start_time_offset"],
                end_time_offset=row["end_time_offset"],
                recovery_strategy=row["recovery_strategy"],
                **self._audit(row, users),
            )
            for row in db.execute(f"SELECT {_ITEM_COLUMNS} FROM south_items {where}", params)
        ]
