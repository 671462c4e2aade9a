"""Importing South items in bulk (CSV import, upstream's ``/items/import/check`` and ``/items/import``).

Checking reads only: each parsed row is validated as the store validates any item (settings against the
manifest, scan mode, group, history fields) and is marked ``new``, or ``update`` when an item of its name is
already there. Importing creates or updates every item in one transaction (an item is matched by id, else
by name, as OIAnalytics' ``create-or-update-south-items-from-csv`` does), creating the groups it names that
do not exist yet (with the scan mode of the first item naming them), or stores nothing and names every bad
field.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import msgspec
import structlog

from connectors.errors import SettingsError
from connectors.manifest import ConnectorManifest
from engine.config import south_rows
from engine.config.base import from_json, now, random_id
from engine.config.crypto import blank, secret_shape
from engine.config.errors import NotFoundError
from engine.config.items_csv import ParsedRow, column_of
from engine.config.models import SYSTEM_USER, GroupHistorySettings
from engine.config.south_checks import HISTORY_DEFAULTS, CheckContext, GroupPlan, ItemPlan, SouthChecks, normalize_item

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ImportTarget:
    """What items are checked against: a South type's manifest, and the South's id when it exists."""

    manifest: ConnectorManifest
    south_id: str | None


def _group_named(raw: dict[str, Any]) -> dict[str, Any]:
    """Read ``group: {id: "", name}`` (a checked item as the check answers it) as ``groupName``."""
    group = raw.get("group")
    if isinstance(group, dict) and not group.get("id") and isinstance(group.get("name"), str):
        raw = {key: value for key, value in raw.items() if key != "group"}
        raw.setdefault("groupName", group["name"])
    return raw


class SouthImportMixin(SouthChecks):
    """The bulk item import of ``SouthRepository``."""

    def import_target(self, type_or_id: str) -> ImportTarget:
        """Resolve upstream's ``{southType}`` path segment, which may also be a South id; 404 when it is neither."""
        manifest = self._manifests.get("south", type_or_id)
        if manifest is not None:
            return ImportTarget(manifest=manifest, south_id=None)
        with self._reading() as db:
            row = db.execute("SELECT type FROM south_connectors WHERE id = ?", (type_or_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"No South type or South connector {type_or_id}")
        return ImportTarget(manifest=self.stored_manifest("south", row["type"]), south_id=type_or_id)

    def check_item_rows(
        self, target: ImportTarget, rows: list[ParsedRow], current: dict[str, str] | None = None
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Validate parsed CSV rows; return the valid items (DTO shape, secrets blank) and the errors.

        A valid item says what importing it does, ``"action": "new"`` or ``"update"`` when an item of that
        name is already there (its ``id`` is then that item's), and its ``line`` in the file. ``current``
        maps those names to ids (default: the South's stored items; upstream's create form sends the items
        it holds). Each error is ``{"item": <row as read, secret columns blank>, "error", "line", "field"}``,
        one per bad column; a name used twice in the file is an error on its second line.
        """
        with self._reading() as db:
            ctx = self._import_context(db, target)
            existing = dict(current) if current is not None else self._item_ids_by_name(db, target.south_id)
        shape = secret_shape(target.manifest.item_settings) if target.manifest.item_settings else None
        items: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        seen: dict[str, int] = {}
        for parsed in rows:
            problems = dict(parsed.errors)
            name = parsed.command.get("name")
            stored_id = existing.get(name) if isinstance(name, str) else None
            plan = self._check_import_item(
                parsed.command, "", ctx, problems, provisional=True, item_id=stored_id if stored_id else None
            )
            if isinstance(name, str) and name in seen:
                problems["name"] = f"item name '{name}' already used on line {seen[name]} of this file"
            if problems:
                shown = {key: value for key, value in parsed.row.values.items() if key}
                for column in _secret_columns(shape, shown):
                    shown[column] = ""
                errors.extend(
                    {"item": shown, "error": f"{column}: {problem}", "line": parsed.row.line, "field": column}
                    for column, problem in problems.items()
                )
                continue
            assert plan is not None
            seen[plan.name] = parsed.row.line
            checked = self._checked_item(plan, ctx, shape)
            update = plan.name in existing
            items.append(
                {
                    **checked,
                    "id": existing[plan.name] if update else "",
                    "action": _action(update),
                    "line": parsed.row.line,
                }
            )
        return items, errors

    def import_items(self, south_id: str, body: Any, *, actor: str = SYSTEM_USER) -> tuple[str, ...]:
        """Create or update a South's items from a JSON array (item commands, or the items a check answered).

        An item whose ``id`` is a stored item's, or else whose name is, updates that item (a secret left
        blank keeps the stored one); any other is added. All or nothing: a name given twice, a name taken
        by another item or any bad field stores nothing (``items[3].name``). Returns the Norths routing
        from the South (to reconcile).
        """
        if not isinstance(body, list):
            raise SettingsError({"items": "expected a JSON array of items"})
        with self._transaction() as db:
            self._require_connector(db, "south", south_id)
            target = ImportTarget(
                manifest=self.stored_manifest("south", self._stored_type(db, south_id)), south_id=south_id
            )
            ctx = self._import_context(db, target)
            by_name = self._item_ids_by_name(db, south_id)
            errors: dict[str, str] = {}
            plans: list[ItemPlan] = []
            seen: dict[str, str] = {}
            for index, raw in enumerate(body):
                path = f"items[{index}]"
                plan = self._check_import_item(
                    raw, path, ctx, errors, provisional=False, item_id=_target_id(raw, ctx, by_name)
                )
                if plan is None:
                    continue
                if plan.name in seen:
                    errors[f"{path}.name"] = f"item name '{plan.name}' already used by {seen[plan.name]}"
                    continue
                if by_name.get(plan.name, plan.id) != plan.id:
                    errors[f"{path}.name"] = f"item name '{plan.name}' already used by another item"
                    continue
                seen[plan.name] = path
                plans.append(plan)
            if errors:
                raise SettingsError(errors)
            stamp = now()
            new_groups = [group for group in ctx.groups_by_id.values() if group.is_new]
            south_rows.write_groups(db, south_id, new_groups, actor, stamp)
            south_rows.write_items(db, south_id, plans, actor, stamp)
            affected = south_rows.routing_norths(db, south_id)
        updated = sum(1 for plan in plans if not plan.is_new)
        log.info(
            "south_items_imported",
            south_id=south_id,
            created=len(plans) - updated,
            updated=updated,
            new_groups=len(new_groups),
        )
        return tuple(affected)

    # --- Helpers --------------------------------------------------------------------------------------------

    def _import_context(self, db: sqlite3.Connection, target: ImportTarget) -> CheckContext:
        ctx = CheckContext(manifest=target.manifest, modes=self._scan_modes(db, self._user_infos(db)))
        if target.south_id is not None:
            self._load_context(db, target.south_id, ctx)
        return ctx

    @staticmethod
    def _stored_type(db: sqlite3.Connection, south_id: str) -> str:
        found: str = db.execute("SELECT type FROM south_connectors WHERE id = ?", (south_id,)).fetchone()["type"]
        return found

    @staticmethod
    def _item_ids_by_name(db: sqlite3.Connection, south_id: str | None) -> dict[str, str]:
        if south_id is None:
            return {}
        return dict(db.execute("SELECT name, id FROM south_items WHERE connector_id = ?", (south_id,)).fetchall())

    def _check_import_item(
        self,
        raw: Any,
        path: str,
        ctx: CheckContext,
        errors: dict[str, str],
        *,
        provisional: bool,
        item_id: str | None = None,
    ) -> ItemPlan | None:
        """Check one item (as an update of ``item_id`` when given); a new group it names is planned."""
        found: dict[str, str] = {}
        if isinstance(raw, dict):
            raw = normalize_item(_group_named(raw))
            self._plan_new_group(raw, path, ctx, found)
        plan = self._check_item(raw, path, ctx, found, taken=set(), item_id=item_id)
        if provisional:
            # Name the CSV column of each problem (``settings.scale`` is the column ``settings_scale``).
            for where, problem in found.items():
                errors.setdefault(column_of(where), problem)
        else:
            errors.update(found)
        return plan if not found else None

    def _plan_new_group(self, raw: dict[str, Any], path: str, ctx: CheckContext, errors: dict[str, str]) -> None:
        name = raw.get("groupName")
        if raw.get("groupId") or not isinstance(name, str) or not name or name in ctx.groups_by_name:
            return
        prefix = f"{path}." if path else ""
        scan_mode_id = self._resolve_raw_scan_mode(ctx.modes, raw, prefix, errors)
        if scan_mode_id is None:
            return
        history = GroupHistorySettings()
        if ctx.manifest.modes.history:
            history = msgspec.structs.replace(history, **HISTORY_DEFAULTS)
        ctx.add_group(GroupPlan(id=random_id(), name=name, scan_mode_id=scan_mode_id, history=history, is_new=True))

    @staticmethod
    def _checked_item(plan: ItemPlan, ctx: CheckContext, shape: Any) -> dict[str, Any]:
        """A checked row as upstream's check answers it: a ``SouthConnectorItemDTO`` without id, secrets blank."""
        group = ctx.groups_by_id.get(plan.group_id) if plan.group_id else None
        return {
            "id": "",
            "name": plan.name,
            "enabled": plan.enabled,
            "settings": blank(from_json(plan.settings), shape),
            "scanMode": msgspec.to_builtins(ctx.modes[plan.scan_mode_id]),
            "group": {"id": "" if group.is_new else group.id, "name": group.name} if group is not None else None,
            "syncWithGroup": plan.sync_with_group,
            **{_camel(key): value for key, value in plan.history.items()},
        }


def _action(update: bool) -> str:
    return "update" if update else "new"


def _target_id(raw: Any, ctx: CheckContext, by_name: dict[str, str]) -> str | None:
    """The stored item an imported one updates: the one its ``id`` names, else the one of its name."""
    if not isinstance(raw, dict):
        return None
    given = raw.get("id")
    if isinstance(given, str) and given in ctx.stored_items:
        return given
    name = raw.get("name")
    return by_name.get(name) if isinstance(name, str) else None


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _secret_columns(shape: Any, values: dict[str, str]) -> list[str]:
    """The ``settings_<key>`` columns holding secrets (a whole column when its setting holds one, at any depth)."""
    fields = getattr(shape, "fields", None)
    if not fields:
        return []
    return [column for column in values if column.startswith("settings_") and column[len("settings_") :] in fields]
