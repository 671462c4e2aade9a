"""Apply an upgrade the engine staged: check it, back up binaries and data, swap, watch, roll back if it fails.

The contract with the engine (reference §10, made safer), in the install folder::

    update/            the new version as the engine unpacked it (its manifest.json and signature included)
    update.json        written last by the engine: version, fromVersion, commandId, manifestSha256
    backup/            binaries/, data-folder/ (the WHOLE data folder) and oibus-launcher when it is replaced
    upgrade-progress.json   the phase of an upgrade in progress, so that a launcher that dies resumes it

and ``upgrade-outcome.json`` in the data folder: the last upgrade's outcome, which the engine reads once.

Steps: the launcher re-checks every SHA-256 of ``update/`` against its manifest (the engine checked the
signature), refuses if the disk lacks twice the data folder's size, copies the data folder and moves the
binaries into ``backup/``, moves the new version in and starts it. If the new engine exits within the
stability window, binaries and data come back from ``backup/`` and the old version starts again. A refusal
touches neither binaries nor data. Stdlib only (the launcher must survive a broken engine).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from launcher.bundle import MANIFEST, BundleError, check_tree, parse_manifest, sha256_file, valid_version

log = logging.getLogger("oibus.launcher")

UPDATE_DIR = "update"
"""Where the engine unpacks the new version (in the install folder)."""
UPDATE_FILE = "update.json"
"""The staging record, written last by the engine: its presence means ``update/`` is complete."""
BACKUP_DIR = "backup"
"""The previous binaries and data folder while a new version is on trial."""
PROGRESS_FILE = "upgrade-progress.json"
"""The phase of the upgrade in progress (install folder)."""
OUTCOME_FILE = "upgrade-outcome.json"
"""The outcome of the last upgrade (data folder), consumed by the engine."""
BACKUP_COMPLETE = ".complete"
"""Marker in ``backup/``: the data folder copy is whole (a partial one is never restored)."""
INSTALL_DIR_ENV = "OIBUS_INSTALL_DIR"
"""Set by the launcher for the engine: where to stage an upgrade (unset: no launcher applies upgrades)."""

_PHASES = ("backup", "swap", "trial", "confirm", "rollback")

DEFAULT_WINDOW_S = 30.0
"""How long a new version must stay up to be kept."""
SPACE_FACTOR = 2
"""Free space needed before a backup, in data folder sizes (what the documentation tells operators)."""


def executable(name: str) -> str:
    """``name`` with the platform's executable suffix."""
    return f"{name}.exe" if sys.platform == "win32" else name


def write_json(path: Path, body: dict[str, Any]) -> None:
    """Write ``body`` whole or not at all (temp file, fsync, rename)."""
    temp = path.with_name(f".{path.name}.tmp")
    with temp.open("w", encoding="utf-8") as file:
        json.dump(body, file, indent=1)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temp, path)


def remove(path: Path) -> None:
    """Delete a file or a folder tree if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def folder_size(root: Path) -> int:
    """Bytes of every file under ``root`` (links not followed)."""
    total = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(folder, name)).st_size
    return total


def free_bytes(path: Path) -> int:
    """Free bytes on the file system holding ``path``."""
    return shutil.disk_usage(path).free


@dataclass(frozen=True, slots=True)
class StagedUpdate:
    """``update.json``: what the engine staged, and for which command."""

    version: str
    from_version: str
    manifest_sha256: str
    command_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The file's fields (camelCase, as the rest of the data contract)."""
        return {
            "version": self.version,
            "fromVersion": self.from_version,
            "manifestSha256": self.manifest_sha256,
            "commandId": self.command_id,
        }

    @classmethod
    def read(cls, path: Path) -> StagedUpdate:
        """Read and validate ``update.json``; ``BundleError`` names the bad field."""
        try:
            body = json.loads(path.read_bytes())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise BundleError(f"{UPDATE_FILE}: unreadable ({err})") from err
        if not isinstance(body, dict):
            raise BundleError(f"{UPDATE_FILE}: expected an object")
        command_id = body.get("commandId")
        if command_id is not None and not isinstance(command_id, str):
            raise BundleError(f"{UPDATE_FILE}: commandId: expected a string or null, got {command_id!r}")
        digest = body.get("manifestSha256")
        if not isinstance(digest, str) or len(digest) != 64:
            raise BundleError(f"{UPDATE_FILE}: manifestSha256: expected a hex SHA-256, got {digest!r}")
        from_version = body.get("fromVersion")
        return cls(
            version=valid_version(body.get("version")),
            from_version=from_version if isinstance(from_version, str) else "",
            manifest_sha256=digest,
            command_id=command_id,
        )


@dataclass(frozen=True, slots=True)
class Trial:
    """A new version swapped in and not yet confirmed."""

    from_version: str
    to_version: str
    command_id: str | None
    launcher_replaced: bool = False


class Upgrader:
    """Applies the upgrades staged in ``install_dir`` for the engine whose data folder is ``data_dir``."""

    def __init__(
        self,
        install_dir: Path,
        data_dir: Path,
        *,
        window_s: float = DEFAULT_WINDOW_S,
        disk_free: Callable[[Path], int] = free_bytes,
    ) -> None:
        self.install_dir = install_dir
        self.data_dir = data_dir
        self.window_s = window_s
        self._disk_free = disk_free
        self.binaries = install_dir / "binaries"
        self.launcher = install_dir / executable("oibus-launcher")
        self.update_dir = install_dir / UPDATE_DIR
        self.update_file = install_dir / UPDATE_FILE
        self.backup_dir = install_dir / BACKUP_DIR
        self.progress_file = install_dir / PROGRESS_FILE
        self.outcome_file = data_dir / OUTCOME_FILE

    # -- what the launcher calls -------------------------------------------------------------------------------

    def pending(self) -> bool:
        """Whether ``prepare`` has something to do (a staged update or an upgrade in progress)."""
        return self.update_file.exists() or self.progress_file.exists()

    def prepare(self) -> Trial | None:
        """Before an engine start: resume an interrupted upgrade or apply a staged one; the trial to watch."""
        progress = self._read_progress()
        if progress is not None:
            phase = progress.pop("phase")
            trial = Trial(**progress)
            if phase == "trial":
                log.warning("upgrade_trial_resumed to=%s (the launcher stopped during the trial)", trial.to_version)
                # The launcher running now is the one in place: no need to execute it again.
                return dataclasses.replace(trial, launcher_replaced=False)
            if phase == "confirm":
                self.confirm(trial)
                return None
            if phase in ("swap", "rollback"):
                self.roll_back(trial, "the launcher stopped while swapping versions")
                return None
            # BACKUP: binaries and data are untouched; the backup is partial. Start over.
            remove(self.backup_dir)
            self.progress_file.unlink()
        if not self.update_file.exists():
            return None
        return self._apply()

    def confirm(self, trial: Trial) -> None:
        """The new version stayed up for the window: keep it, drop the backup, tell the engine."""
        # From here on the upgrade is kept, whatever happens: a launcher that dies now finishes this on restart.
        self._write_progress("confirm", trial)
        remove(self.backup_dir)
        self._write_outcome(trial, "completed", f"version {trial.to_version} stayed up for {self.window_s:g} s")
        self.progress_file.unlink(missing_ok=True)
        log.info("upgrade_completed from=%s to=%s", trial.from_version, trial.to_version)

    def roll_back(self, trial: Trial, reason: str) -> None:
        """Put the previous binaries and the whole data folder back (idempotent: resumable after a crash)."""
        log.error("upgrade_rolling_back from=%s to=%s reason=%s", trial.from_version, trial.to_version, reason)
        self._write_progress("rollback", trial)
        old_binaries = self.backup_dir / "binaries"
        if old_binaries.is_dir():
            remove(self.binaries)
            os.replace(old_binaries, self.binaries)
        old_launcher = self.backup_dir / self.launcher.name
        if old_launcher.is_file():
            os.replace(old_launcher, self.launcher)
        old_data = self.backup_dir / "data-folder"
        if (self.backup_dir / BACKUP_COMPLETE).exists():
            for entry in self.data_dir.iterdir():
                remove(entry)
            shutil.copytree(old_data, self.data_dir, symlinks=True, dirs_exist_ok=True)
        self._discard_staging()
        self._write_outcome(trial, "rolled-back", reason)
        self.progress_file.unlink(missing_ok=True)
        remove(self.backup_dir)
        log.info("upgrade_rolled_back to=%s", trial.from_version)

    # -- the steps -----------------------------------------------------------------------------------------------

    def _apply(self) -> Trial | None:
        try:
            staged = StagedUpdate.read(self.update_file)
        except BundleError as err:
            self._refuse(Trial(from_version="", to_version="", command_id=None), str(err))
            return None
        trial = Trial(from_version=staged.from_version, to_version=staged.version, command_id=staged.command_id)
        reason = self._check(staged)
        if reason is not None:
            self._refuse(trial, reason)
            return None
        log.info("upgrade_started from=%s to=%s", trial.from_version, trial.to_version)
        self._write_progress("backup", trial)
        remove(self.backup_dir)
        self.backup_dir.mkdir()
        started = time.monotonic()
        try:
            shutil.copytree(self.data_dir, self.backup_dir / "data-folder", symlinks=True)
        except OSError as err:
            # Nothing was swapped yet: drop the partial backup and keep the running version.
            remove(self.backup_dir)
            self.progress_file.unlink()
            self._refuse(trial, f"cannot back up the data folder: {err}")
            return None
        (self.backup_dir / BACKUP_COMPLETE).touch()
        log.info("upgrade_data_backed_up seconds=%.1f", time.monotonic() - started)
        new_launcher = self.update_dir / self.launcher.name
        replace_launcher = new_launcher.is_file() and self.launcher.is_file()
        replace_launcher = replace_launcher and sha256_file(new_launcher) != sha256_file(self.launcher)
        trial = Trial(trial.from_version, trial.to_version, trial.command_id, launcher_replaced=replace_launcher)
        self._write_progress("swap", trial)
        try:
            os.replace(self.binaries, self.backup_dir / "binaries")
            os.replace(self.update_dir / "binaries", self.binaries)
            if replace_launcher:
                self._replace_launcher(new_launcher)
        except OSError as err:
            self.roll_back(trial, f"cannot swap the binaries: {err}")
            return None
        self._discard_staging()
        self._write_progress("trial", trial)
        log.info("upgrade_swapped to=%s window_s=%g launcher=%s", trial.to_version, self.window_s, replace_launcher)
        return trial

    def _replace_launcher(self, new_launcher: Path) -> None:
        """Swap the launcher file; the running launcher keeps its old image until it re-executes itself."""
        if sys.platform == "win32":
            # A running .exe cannot be overwritten, but it can be renamed (upstream's scheme).
            os.replace(self.launcher, self.backup_dir / self.launcher.name)
        else:
            # Copy then replace: the launcher path always names a whole file, even after a power cut.
            shutil.copy2(self.launcher, self.backup_dir / self.launcher.name)
        os.replace(new_launcher, self.launcher)

    def _check(self, staged: StagedUpdate) -> str | None:
        """Why the staged update cannot be applied, or None. Reads only."""
        try:
            raw = (self.update_dir / MANIFEST).read_bytes()
            if hashlib.sha256(raw).hexdigest() != staged.manifest_sha256:
                return f"{MANIFEST} is not the one the engine verified (its SHA-256 differs from {UPDATE_FILE})"
            manifest = parse_manifest(raw)
            if manifest.version != staged.version:
                return f"{MANIFEST} says version {manifest.version}, {UPDATE_FILE} says {staged.version}"
            check_tree(self.update_dir, manifest)
        except (OSError, BundleError) as err:
            return f"package check failed: {err}"
        if not (self.update_dir / "binaries" / executable("oibus")).is_file():
            return f"the package has no binaries/{executable('oibus')}"
        if self.install_dir.resolve().is_relative_to(self.data_dir.resolve()):
            return "the install folder is inside the data folder: its backup would contain itself"
        needed = SPACE_FACTOR * folder_size(self.data_dir)
        available = self._disk_free(self.install_dir)
        if available < needed:
            return (
                f"not enough disk space to back up the data folder: {available} bytes free, "
                f"{needed} needed ({SPACE_FACTOR} x the data folder)"
            )
        return None

    def _refuse(self, trial: Trial, reason: str) -> None:
        """Log, report, and drop the staged package; binaries and data stay as they are."""
        log.error("upgrade_refused to=%s reason=%s", trial.to_version or "?", reason)
        self._discard_staging()
        self._write_outcome(trial, "refused", reason)

    def _discard_staging(self) -> None:
        self.update_file.unlink(missing_ok=True)
        remove(self.update_dir)

    # -- records -------------------------------------------------------------------------------------------------

    def _write_progress(self, phase: str, trial: Trial) -> None:
        body = {
            "phase": phase,
            "from_version": trial.from_version,
            "to_version": trial.to_version,
            "command_id": trial.command_id,
            "launcher_replaced": trial.launcher_replaced,
        }
        write_json(self.progress_file, body)

    def _read_progress(self) -> dict[str, Any] | None:
        if not self.progress_file.exists():
            return None
        try:
            body = json.loads(self.progress_file.read_bytes())
            if not isinstance(body, dict) or body.get("phase") not in _PHASES:
                raise ValueError(f"phase: unknown {body.get('phase') if isinstance(body, dict) else body!r}")
            return {
                "phase": body["phase"],
                "from_version": str(body.get("from_version", "")),
                "to_version": str(body.get("to_version", "")),
                "command_id": body.get("command_id") if isinstance(body.get("command_id"), str) else None,
                "launcher_replaced": body.get("launcher_replaced") is True,
            }
        except (OSError, ValueError) as err:
            # Without a readable phase the safe move is to put back whatever the backup holds.
            log.error("upgrade_progress_unreadable error=%s: restoring the backup", err)
            return {"phase": "rollback", "from_version": "", "to_version": "", "command_id": None}

    def _write_outcome(self, trial: Trial, status: str, reason: str) -> None:
        body = {
            "status": status,
            "fromVersion": trial.from_version,
            "toVersion": trial.to_version,
            "reason": reason,
            "commandId": trial.command_id,
            "finishedAt": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        try:
            write_json(self.outcome_file, body)
        except OSError as err:
            log.error("upgrade_outcome_not_written error=%s status=%s", err, status)
