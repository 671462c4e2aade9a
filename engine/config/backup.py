"""A rolling backup of ``oibus.db`` and ``crypto.db``, and their restore when one is found damaged at start.

The configuration cannot be rebuilt: a damaged ``oibus.db`` must never pass for a new install (a new id,
``admin``/``pass``, every connector gone, the caches orphaned). So at each clean start (and after a
configuration change, when the caller asks) both files are copied with SQLite's online backup into
``backup/<UTC time>/``, the newest ``KEEP`` kept. Before the store opens, each file is checked: a file
that is empty, not a database, or fails ``quick_check`` is renamed ``.corrupt-<time>`` and replaced by its
newest good copy, and the restore is logged and reported. With no good copy the engine refuses to start
(``ConfigurationDamaged``): the launcher gives up after its retries, with that one line in its log.

A missing ``oibus.db`` is a new install; an empty one is not.
"""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import structlog

from connectors.errors import OIBusError
from engine.cache.space import is_store_no_space, no_space_reason
from engine.rebuildable import move_aside

log = structlog.get_logger(__name__)

BACKUP_DIR = "backup"
KEEP = 3
FILES = ("oibus.db", "crypto.db")
# The table each file cannot be without: a database that lacks it is not the file we wrote.
_REQUIRED_TABLE = {"oibus.db": "engines", "crypto.db": None}


class ConfigurationDamaged(OIBusError, RuntimeError):
    """``oibus.db`` or ``crypto.db`` is damaged and no good copy is left: the engine must not start."""


def is_good(path: Path, name: str) -> bool:
    """Whether ``path`` is a readable, undamaged copy of ``name`` (``oibus.db`` must hold its engine row)."""
    if not path.is_file() or path.stat().st_size == 0:
        return False
    try:
        return _checks_out(path, name, "mode=ro")
    except sqlite3.DatabaseError as err:
        if not is_store_no_space(err, path):
            return False
    # A full disk is not damage: a WAL database cannot even be read when its shared-memory file cannot grow.
    # Nothing writes the file before the store opens (the data folder is locked): read it as immutable.
    try:
        return _checks_out(path, name, "mode=ro&immutable=1")
    except sqlite3.DatabaseError:
        return False


def _checks_out(path: Path, name: str, options: str) -> bool:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?{options}", uri=True)
    try:
        if [row[0] for row in conn.execute("PRAGMA quick_check")] != ["ok"]:
            return False
        table = _REQUIRED_TABLE[name]
        if table is None:
            tables: int = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            return tables > 0
        return conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None
    finally:
        conn.close()


def backups(data_dir: Path) -> list[Path]:
    """The backup folders, newest first."""
    root = data_dir / BACKUP_DIR
    return sorted((p for p in root.iterdir() if p.is_dir()), reverse=True) if root.is_dir() else []


def take_backup(data_dir: Path, *, keep: int = KEEP) -> Path | None:
    """Copy ``oibus.db`` and ``crypto.db`` (online backup: consistent while in use); keep the newest ``keep``."""
    if not (data_dir / FILES[0]).exists():
        return None
    target = data_dir / BACKUP_DIR / datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    partial = target.with_name(target.name + ".partial")
    try:
        partial.mkdir(parents=True, exist_ok=True)
        for name in FILES:
            if not (data_dir / name).exists():
                continue
            source = sqlite3.connect(data_dir / name)
            copy = sqlite3.connect(partial / name)
            try:
                source.backup(copy)
            finally:
                copy.close()
                source.close()
    except (sqlite3.Error, OSError) as err:
        if not is_store_no_space(err, partial):
            raise
        # The configuration itself is fine: a backup skipped for want of space is no reason to refuse a change
        # already made, nor a start. The older copies stay; the next change or start tries again.
        shutil.rmtree(partial, ignore_errors=True)
        log.warning("configuration_backup_skipped", reason=no_space_reason(data_dir), error=str(err))
        return None
    # Renamed whole: a crash mid-backup leaves a .partial folder, never a half copy taken for a good one.
    partial.replace(target)
    for old in backups(data_dir)[keep:]:
        shutil.rmtree(old, ignore_errors=True)
    for stale in (data_dir / BACKUP_DIR).glob("*.partial"):
        if stale != partial:
            shutil.rmtree(stale, ignore_errors=True)
    return target


def recover(data_dir: Path) -> list[str]:
    """Check each configuration file and restore a damaged one from its newest good backup.

    Returns one line per restore (empty when all was well). Raises ``ConfigurationDamaged`` when a file is
    damaged and no backup of it is good.
    """
    restored: list[str] = []
    if not (data_dir / FILES[0]).exists():
        return restored  # A new install (or one whose configuration the operator removed on purpose).
    for name in FILES:
        path = data_dir / name
        if not path.exists() or is_good(path, name):
            continue
        good = next((folder / name for folder in backups(data_dir) if is_good(folder / name, name)), None)
        size = path.stat().st_size
        if good is None:
            raise ConfigurationDamaged(
                f"{path} is damaged ({size} bytes) and no good backup is left in {data_dir / BACKUP_DIR}: "
                "restore it from your own backup; OIBus will not start with a damaged configuration"
            )
        aside = move_aside(path)
        shutil.copyfile(good, path)
        line = f"{name} was damaged ({size} bytes, kept as {aside.name}); restored from backup {good.parent.name}"
        log.error("configuration_restored", file=name, moved_to=str(aside), backup=str(good.parent))
        restored.append(line)
    return restored
