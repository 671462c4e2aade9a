"""Checking South commands: structure, settings against the manifest, and references, all at once."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

from connectors.errors import SettingsError
from connectors.manifest import ConnectorManifest
from engine.config.base import claim_id, from_json, moved, random_id, require_object
from engine.config.connector_base import ConnectorStoreBase
from engine.config.crypto import secret_shape
from engine.config.errors import NotFoundError
from engine.config.models import (
    SUBSCRIPTION_ID,
    GroupHistorySettings,
    ScanModeDTO,
    SouthCommand,
    SouthGroupCommand,
    SouthItemCommand,
)
from engine.config.validation import join, try_convert
from engine.history.windowing import DEFAULT_MAX_READ_INTERVAL_S, DEFAULT_READ_DELAY_MS

# History settings a history-capable item or group gets when the command leaves them null.
HISTORY_DEFAULTS = {
    "max_read_interval": DEFAULT_MAX_READ_INTERVAL_S,
    "read_delay": DEFAULT_READ_DELAY_MS,
    "start_time_offset": 0,
    "end_time_offset": 0,
    "recovery_strategy": "oldest",
}


@dataclass(slots=True)
class GroupPlan:
    """A checked group, ready to insert (``is_new``) or update."""

    id: str
    name: str
    scan_mode_id: str
    history: GroupHistorySettings
    is_new: bool


@dataclass(slots=True)
class ItemPlan:
    """A checked item: settings already stored as JSON with secrets sealed."""

    id: str
    name: str
    enabled: bool
    settings: str
    scan_mode_id: str
    group_id: str | None
    sync_with_group: bool
    history: dict[str, Any]
    is_new: bool


@dataclass(slots=True)
class CheckContext:
    """What checking items needs: the manifest, scan modes, groups and the stored items."""

    manifest: ConnectorManifest
    modes: dict[str, ScanModeDTO]
    groups_by_id: dict[str, GroupPlan] = field(default_factory=dict)
    groups_by_name: dict[str, GroupPlan] = field(default_factory=dict)
    stored_groups: set[str] = field(default_factory=set)
    stored_items: dict[str, str] = field(default_factory=dict)

    def add_group(self, group: GroupPlan) -> None:
        """Make ``group`` the target of items naming it by id or by name."""
        self.groups_by_id[group.id] = group
        self.groups_by_name[group.name] = group


def _overlap(raw: dict[str, Any]) -> dict[str, Any]:
    """3.8 ``overlap`` (ms) became ``startTimeOffset = -overlap`` in 3.9."""
    overlap = raw.get("overlap")
    if raw.get("startTimeOffset") is None and isinstance(overlap, int) and not isinstance(overlap, bool):
        raw = {**raw, "startTimeOffset": -overlap}
    return raw


def normalize_item(raw: Any) -> Any:
    """Map the tolerated item shapes (3.8, 3.9 DTO) onto ``SouthItemCommand``."""
    if not isinstance(raw, dict):
        return raw
    return _overlap(moved(moved(raw, "scanMode", "scanModeId"), "group", "groupId"))


def normalize_group(raw: Any) -> Any:
    """Map the tolerated group shapes onto ``SouthGroupCommand``."""
    if not isinstance(raw, dict):
        return raw
    standard = raw.get("standardSettings")
    if isinstance(standard, dict):
        raw = {**raw, "standardSettings": moved(standard, "scanMode", "scanModeId")}
    history = raw.get("historySettings")
    if isinstance(history, dict):
        raw = {**raw, "historySettings": _overlap(history)}
    elif "overlap" in raw:
        raw = {**raw, "historySettings": _overlap({"overlap": raw["overlap"]})}
    return raw


def _text(raw: dict[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return value if isinstance(value, str) else None


def stored_history(row: sqlite3.Row) -> GroupHistorySettings:
    """The history settings of a ``south_item_groups`` row."""
    return GroupHistorySettings(
        start_time_offset=row["start_time_offset"],
        end_time_offset=row["end_time_offset"],
        max_read_interval=row["max_read_interval"],
        read_delay=row["read_delay"],
        recovery_strategy=row["recovery_strategy"],
    )


class SouthChecks(ConnectorStoreBase):
    """Validation of South commands into rows ready to store (part of ``ConfigStore``)."""

    def _check_south(
        self, db: sqlite3.Connection, body: Any, south_id: str | None
    ) -> tuple[SouthCommand, CheckContext, list[GroupPlan] | None, list[ItemPlan] | None, str]:
        """Validate a whole South command, collecting every problem before raising."""
        raw = require_object(body)
        errors: dict[str, str] = {}
        top = {key: value for key, value in raw.items() if key not in ("items", "groups")}
        command = try_convert(top, SouthCommand, "", errors)
        for key in ("items", "groups"):
            if key in raw and not isinstance(raw[key], list):
                try_convert(raw[key], list[Any], key, errors)
        stored = self._stored_connector(db, "south", south_id)
        manifest, settings_json = self._check_connector(db, "south", raw, stored, errors)
        if manifest is None:
            # Items cannot be checked without the type; report the rest now rather than one error at a time.
            raise SettingsError(errors)
        users = self._user_infos(db)
        ctx = CheckContext(manifest=manifest, modes=self._scan_modes(db, users))
        if south_id is not None:
            self._load_context(db, south_id, ctx)
        groups: list[GroupPlan] | None = None
        if isinstance(raw.get("groups"), list):
            groups = self._check_groups(raw["groups"], ctx, errors)
        items: list[ItemPlan] | None = None
        if isinstance(raw.get("items"), list):
            items = self._check_items(raw["items"], ctx, errors)
        if errors or command is None:
            raise SettingsError(errors)
        return command, ctx, groups, items, settings_json

    def _load_context(self, db: sqlite3.Connection, south_id: str, ctx: CheckContext) -> None:
        for row in db.execute("SELECT * FROM south_item_groups WHERE connector_id = ?", (south_id,)):
            ctx.add_group(
                GroupPlan(
                    id=row["id"],
                    name=row["name"],
                    scan_mode_id=row["scan_mode_id"],
                    history=stored_history(row),
                    is_new=False,
                )
            )
        ctx.stored_groups = set(ctx.groups_by_id)
        ctx.stored_items = dict(
            db.execute("SELECT id, settings FROM south_items WHERE connector_id = ?", (south_id,)).fetchall()
        )

    def _check_groups(self, raws: list[Any], ctx: CheckContext, errors: dict[str, str]) -> list[GroupPlan]:
        """The command's groups replace the stored ones as the namespace its items refer to.

        A new group may carry a temporary id (upstream's UI sends ``temp_<x>``): it gets a real id, and
        items of the same command that name the temporary id by ``groupId`` join that group.
        """
        reusable = set(ctx.groups_by_id)
        ctx.groups_by_id, ctx.groups_by_name = {}, {}
        groups: list[GroupPlan] = []
        temporary: dict[str, tuple[int, GroupPlan]] = {}
        for index, raw in enumerate(raws):
            group = self._check_group(raw, f"groups[{index}]", ctx, errors, reusable=reusable)
            if group is None:
                continue
            if group.name in ctx.groups_by_name:
                errors[f"groups[{index}].standardSettings.name"] = f"group name '{group.name}' is used twice"
                continue
            ctx.add_group(group)
            groups.append(group)
            given = _text(raw, "id") if isinstance(raw, dict) else None
            if group.is_new and given:
                if given in temporary:
                    errors[f"groups[{index}].id"] = (
                        f"temporary id '{given}' is also used by groups[{temporary[given][0]}]"
                    )
                    continue
                temporary[given] = (index, group)
        for given, (_, group) in temporary.items():
            # A real id of this command wins over a temporary one spelled the same.
            ctx.groups_by_id.setdefault(given, group)
        return groups

    def _check_group(
        self, raw: Any, path: str, ctx: CheckContext, errors: dict[str, str], *, reusable: set[str]
    ) -> GroupPlan | None:
        """One group: structure and scan mode; keeps its id when it names a stored group not yet used."""
        raw = normalize_group(raw)
        command = try_convert(raw, SouthGroupCommand, path, errors)
        standard_raw = raw.get("standardSettings") if isinstance(raw, dict) else None
        scan_mode_id = None
        if isinstance(standard_raw, dict):
            # Resolved from the raw body so that a problem elsewhere in the group does not hide this one.
            scan_mode_id = self._resolve_raw_scan_mode(
                ctx.modes, standard_raw, join(path, ".standardSettings."), errors
            )
        if command is None or scan_mode_id is None:
            return None
        standard = command.standard_settings
        history = command.history_settings
        if ctx.manifest.modes.history:
            history = msgspec.structs.replace(
                history,
                **{key: value for key, value in HISTORY_DEFAULTS.items() if getattr(history, key) is None},
            )
        reused = claim_id(command.id, reusable)
        return GroupPlan(
            id=reused or random_id(),
            name=standard.name,
            scan_mode_id=scan_mode_id,
            history=history,
            is_new=reused is None,
        )

    def _check_items(self, raws: list[Any], ctx: CheckContext, errors: dict[str, str]) -> list[ItemPlan]:
        items: list[ItemPlan] = []
        names: dict[str, int] = {}
        taken: set[str] = set()
        for index, raw in enumerate(raws):
            path = f"items[{index}]"
            item = self._check_item(raw, path, ctx, errors, taken=taken)
            # Names are compared on the raw body so a duplicate is reported even beside other problems.
            name = raw.get("name") if isinstance(raw, dict) else None
            if isinstance(name, str) and name in names:
                errors[f"{path}.name"] = f"already used by items[{names[name]}]"
                continue
            if isinstance(name, str):
                names[name] = index
            if item is not None:
                taken.add(item.id)
                items.append(item)
        return items

    def _check_item(
        self,
        raw: Any,
        path: str,
        ctx: CheckContext,
        errors: dict[str, str],
        *,
        taken: set[str],
        item_id: str | None = None,
    ) -> ItemPlan | None:
        """One item: structure, settings against the manifest, group and scan mode references."""
        item_settings = ctx.manifest.item_settings
        if item_settings is None:
            errors[path or "body"] = f"South type '{ctx.manifest.id}' has no items"
            return None
        raw = normalize_item(raw)
        command = try_convert(raw, SouthItemCommand, path, errors)
        settings = None
        if isinstance(raw, dict) and "settings" in raw:
            settings = try_convert(raw["settings"], item_settings, join(path, ".settings"), errors)
        if not isinstance(raw, dict):
            return None
        # References are resolved from the raw body so that every problem of the item is reported at once.
        prefix = f"{path}." if path else ""
        known, group = _item_group(raw, prefix, ctx, errors)
        if not known:
            return None
        if group is not None:
            scan_mode_id: str | None = group.scan_mode_id
        else:
            scan_mode_id = self._resolve_raw_scan_mode(ctx.modes, raw, prefix, errors)
        if scan_mode_id == SUBSCRIPTION_ID and not ctx.manifest.modes.subscription:
            errors[f"{prefix}scanModeId"] = f"South type '{ctx.manifest.id}' does not support subscription"
            return None
        if command is None or scan_mode_id is None or settings is None:
            return None
        if item_id is None and command.id is not None and command.id in ctx.stored_items and command.id not in taken:
            item_id = command.id
        is_new = item_id is None
        final_id = item_id or random_id()
        history = {key: getattr(command, key) for key in HISTORY_DEFAULTS}
        if ctx.manifest.modes.history:
            history = {key: HISTORY_DEFAULTS[key] if value is None else value for key, value in history.items()}
        previous = ctx.stored_items.get(final_id)
        return ItemPlan(
            id=final_id,
            name=command.name,
            enabled=command.enabled,
            settings=self._sealed(settings, from_json(previous) if previous else None, secret_shape(item_settings)),
            scan_mode_id=scan_mode_id,
            group_id=group.id if group else None,
            sync_with_group=command.sync_with_group and group is not None,
            history=history,
            is_new=is_new,
        )

    def _check_single_item(self, db: sqlite3.Connection, south_id: str, body: Any, item_id: str | None) -> ItemPlan:
        raw, ctx = self._single_context(db, south_id, body, ("Item", item_id))
        errors: dict[str, str] = {}
        item = self._check_item(raw, "", ctx, errors, taken=set(), item_id=item_id)
        name = raw.get("name")
        if (
            isinstance(name, str)
            and db.execute(
                "SELECT 1 FROM south_items WHERE connector_id = ? AND name = ? AND id != ?",
                (south_id, name, item_id or ""),
            ).fetchone()
        ):
            errors["name"] = "already used by another item of this South connector"
        if errors or item is None:
            raise SettingsError(errors)
        return item

    def _check_single_group(self, db: sqlite3.Connection, south_id: str, body: Any, group_id: str | None) -> GroupPlan:
        raw, ctx = self._single_context(db, south_id, body, ("Group", group_id))
        errors: dict[str, str] = {}
        group = self._check_group(raw, "", ctx, errors, reusable=set())
        if group is not None and group_id is not None:
            group.id, group.is_new = group_id, False
        standard = raw.get("standardSettings")
        name = standard.get("name") if isinstance(standard, dict) else None
        clash = ctx.groups_by_name.get(name) if isinstance(name, str) else None
        if clash is not None and clash.id != group_id:
            errors["standardSettings.name"] = "already used by another group of this South connector"
        if errors or group is None:
            raise SettingsError(errors)
        return group

    def _single_context(
        self, db: sqlite3.Connection, south_id: str, body: Any, target: tuple[Literal["Item", "Group"], str | None]
    ) -> tuple[dict[str, Any], CheckContext]:
        """Return the body and context of a one-item or one-group command; ``target`` is the one it replaces."""
        raw = require_object(body)
        stored = self._stored_connector(db, "south", south_id)
        assert stored is not None  # _stored_connector raises for an unknown id
        manifest = self._manifests.get("south", stored["type"])
        if manifest is None:
            raise SettingsError({"type": f"unknown South connector type '{stored['type']}'"})
        ctx = CheckContext(manifest=manifest, modes=self._scan_modes(db, self._user_infos(db)))
        self._load_context(db, south_id, ctx)
        what, target_id = target
        known = ctx.stored_items if what == "Item" else ctx.groups_by_id
        if target_id is not None and target_id not in known:
            raise NotFoundError(f"{what} {target_id} not found in South {south_id}")
        return raw, ctx


def _item_group(
    raw: dict[str, Any], prefix: str, ctx: CheckContext, errors: dict[str, str]
) -> tuple[bool, GroupPlan | None]:
    """The group an item names by ``groupId`` or ``groupName`` (None: no group); False when it names an unknown one."""
    group_id, group_name = _text(raw, "groupId"), _text(raw, "groupName")
    if group_id:
        group = ctx.groups_by_id.get(group_id)
        if group is None:
            errors[f"{prefix}groupId"] = f"unknown group '{group_id}'"
        return group is not None, group
    if group_name:
        group = ctx.groups_by_name.get(group_name)
        if group is None:
            errors[f"{prefix}groupName"] = f"unknown group '{group_name}'"
        return group is not None, group
    return True, None
