"""The row writes of a South's groups and items, shared by its saves and its item imports."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from engine.config.south_checks import GroupPlan, ItemPlan


def write_groups(db: sqlite3.Connection, south_id: str, groups: list[GroupPlan], actor: str, stamp: str) -> None:
    """Insert the new groups of ``groups`` and update the others (their items follow their scan mode)."""
    # Park renamed groups under a unique name first so that swapping two names never trips UNIQUE.
    db.executemany(
        "UPDATE south_item_groups SET name = char(0) || id WHERE id = ?",
        [(group.id,) for group in groups if not group.is_new],
    )
    rows = [
        (
            group.name,
            group.scan_mode_id,
            group.history.start_time_offset,
            group.history.end_time_offset,
            group.history.max_read_interval,
            group.history.read_delay,
            group.history.recovery_strategy,
            actor,
            stamp,
            group.id,
        )
        for group in groups
    ]
    db.executemany(
        "UPDATE south_item_groups SET name = ?, scan_mode_id = ?, start_time_offset = ?, "
        "end_time_offset = ?, "
        "max_read_interval = ?, read_delay = ?, recovery_strategy = ?, updated_by = ?, updated_at = ? "
        "WHERE id = ?",
        [row for row, group in zip(rows, groups, strict=True) if not group.is_new],
    )
    db.executemany(
        "INSERT INTO south_item_groups (name, scan_mode_id, start_time_offset, end_time_offset, "
        "max_read_interval, read_delay, recovery_strategy, updated_by, updated_at, id, connector_id, "
        "created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(*row, south_id, actor, stamp) for row, group in zip(rows, groups, strict=True) if group.is_new],
    )
    # Items of a group use its scan mode.
    db.executemany(
        "UPDATE south_items SET scan_mode_id = ? WHERE group_id = ?",
        [(group.scan_mode_id, group.id) for group in groups if not group.is_new],
    )


def write_items(db: sqlite3.Connection, south_id: str, items: list[ItemPlan], actor: str, stamp: str) -> None:
    """Insert the new items of ``items`` and update the others."""
    db.executemany(
        "UPDATE south_items SET name = char(0) || id WHERE id = ?",
        [(item.id,) for item in items if not item.is_new],
    )
    rows = [
        (
            item.name,
            item.enabled,
            item.settings,
            item.scan_mode_id,
            item.group_id,
            item.sync_with_group,
            item.history["max_read_interval"],
            item.history["read_delay"],
            item.history["start_time_offset"],
            item.history["end_time_offset"],
            item.history["recovery_strategy"],
            actor,
            stamp,
            item.id,
        )
        for item in items
    ]
    db.executemany(
        "UPDATE south_items SET name = ?, enabled = ?, settings = ?, scan_mode_id = ?, group_id = ?, "
        "sync_with_group = ?, max_read_interval = ?, read_delay = ?, start_time_offset = ?, "
        "end_time_offset = ?, recovery_strategy = ?, updated_by = ?, updated_at = ? WHERE id = ?",
        [row for row, item in zip(rows, items, strict=True) if not item.is_new],
    )
    db.executemany(
        "INSERT INTO south_items (name, enabled, settings, scan_mode_id, group_id, sync_with_group, "
        "max_read_interval, read_delay, start_time_offset, end_time_offset, recovery_strategy, "
        "updated_by, "
        "updated_at, id, connector_id, created_by, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(*row, south_id, actor, stamp) for row, item in zip(rows, items, strict=True) if item.is_new],
    )


def delete_items(db: sqlite3.Connection, south_id: str, item_ids: Iterable[str]) -> None:
    """Delete items of one South."""
    db.executemany("DELETE FROM south_items WHERE id = ? AND connector_id = ?", [(iid, south_id) for iid in item_ids])


def delete_groups(db: sqlite3.Connection, south_id: str, group_ids: Iterable[str]) -> None:
    """Delete groups of one South; their items stay, ungrouped."""
    ids = list(group_ids)
    # Ungrouped items keep the group's scan mode (already theirs) but can no longer sync with it.
    db.executemany("UPDATE south_items SET sync_with_group = 0 WHERE group_id = ?", [(gid,) for gid in ids])
    db.executemany(
        "DELETE FROM south_item_groups WHERE id = ? AND connector_id = ?",
        [(gid, south_id) for gid in ids],
    )


def drop_empty_rules(db: sqlite3.Connection) -> None:
    """Delete North rules scoped to items none of which is left (they must not widen to the South)."""
    db.execute(
        "DELETE FROM north_transformers WHERE items_scoped = 1 AND NOT EXISTS (SELECT 1 FROM "
        "north_transformer_items t WHERE t.north_transformer_id = north_transformers.id)"
    )


def routing_norths(db: sqlite3.Connection, south_id: str) -> tuple[str, ...]:
    """The Norths with a rule on ``south_id``, by id."""
    return tuple(
        row[0]
        for row in db.execute(
            "SELECT DISTINCT north_id FROM north_transformers WHERE south_id = ? ORDER BY north_id",
            (south_id,),
        )
    )
