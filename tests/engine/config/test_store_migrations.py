"""Migrations of oibus.db: applied in order from empty, idempotent, versioned, never downgraded."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest
from config_fakes import open_store

from engine.config.errors import ConfigError
from engine.config.migrations import MIGRATIONS, migrate, schema_version

EXPECTED_TABLES = {
    "engines",
    "users",
    "scan_modes",
    "south_connectors",
    "south_item_groups",
    "south_items",
    "north_connectors",
    "north_transformers",
    "north_transformer_items",
    "ip_filters",
}


def _tables(db: sqlite3.Connection) -> set[str]:
    return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_migrate_from_empty(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "oibus.db", isolation_level=None)
    assert schema_version(db) == 0
    assert migrate(db) == len(MIGRATIONS)
    assert schema_version(db) == len(MIGRATIONS)
    assert _tables(db) >= EXPECTED_TABLES
    # Nothing pending: a second run changes nothing.
    assert migrate(db) == len(MIGRATIONS)
    db.close()


@pytest.mark.parametrize("index", range(len(MIGRATIONS)))
def test_each_migration_is_idempotent(tmp_path: Path, index: int) -> None:
    db = sqlite3.connect(tmp_path / "oibus.db", isolation_level=None)
    migrate(db, MIGRATIONS[: index + 1])
    before = _tables(db)
    MIGRATIONS[index](db)  # replayed, as a copy of tables made by hand would make it
    assert _tables(db) == before
    db.close()


def test_migrations_apply_in_order_and_resume(tmp_path: Path) -> None:
    applied: list[int] = []

    def first(db: sqlite3.Connection) -> None:
        applied.append(1)
        db.execute("CREATE TABLE IF NOT EXISTS a (x)")

    def second(db: sqlite3.Connection) -> None:
        applied.append(2)
        db.execute("CREATE TABLE IF NOT EXISTS b (x)")

    db = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    assert migrate(db, (first,)) == 1
    assert migrate(db, (first, second)) == 2
    assert applied == [1, 2]
    db.close()


def test_failed_migration_rolls_back_with_its_version(tmp_path: Path) -> None:
    def broken(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE IF NOT EXISTS half (x)")
        raise RuntimeError("boom")

    db = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    with pytest.raises(RuntimeError):
        migrate(db, (broken,))
    assert schema_version(db) == 0
    assert "half" not in _tables(db)
    db.close()


def test_newer_database_is_refused(tmp_path: Path) -> None:
    db = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(ConfigError, match="newer"):
        migrate(db)
    db.close()


def test_reopen_keeps_data_and_seeds_once(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        engine_id = store.engine_id
        first_modes = {mode.id for mode in store.scan_modes.list_scan_modes()}
    with open_store(tmp_path) as store:
        assert store.engine_id == engine_id
        assert {mode.id for mode in store.scan_modes.list_scan_modes()} == first_modes


def test_crypto_db_is_private(tmp_path: Path) -> None:
    with open_store(tmp_path):
        pass
    mode = stat.S_IMODE((tmp_path / "crypto.db").stat().st_mode)
    assert mode == 0o600
