"""The engine's side of upgrades and restarts: stage a signed release for the launcher, read how it went.

The OIAnalytics ``update-version`` command downloads a release bundle and calls :func:`stage_upgrade`, then
reports, then asks for a restart with :func:`request_restart`: the engine exits 0 and the launcher
(``launcher.upgrade``) applies what was staged: it re-checks the sums, backs up the binaries and the whole data
folder, swaps, and rolls back a version that does not stay up. On the next starts :func:`upgrade_outcome` says
how it ended. ``POST /api/engine/restart`` uses :func:`request_restart` too.

Integrity: OIAnalytics' command carries no checksum, so a bundle carries ``manifest.json`` (the SHA-256 of every
file, ``launcher.bundle``) and ``manifest.sig``, an Ed25519 signature of the manifest made with the project's
release key. The public half is :data:`RELEASE_PUBLIC_KEY`; the environment variable
:data:`PUBLIC_KEY_ENV` replaces it (tests sign with a throwaway key; a release build is checked with the real
one). The bundle is a zip of the install folder of the new version (``packaging/build.py`` makes it).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import os
import shutil
import stat
import zipfile
import zlib
from pathlib import Path
from typing import Literal

import msgspec
import structlog
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from connectors.errors import OIBusError
from engine.version import engine_version
from launcher.bundle import (
    MANIFEST,
    SIGNATURE,
    BundleError,
    Manifest,
    check_tree,
    parse_manifest,
    safe_path,
    this_platform,
)
from launcher.upgrade import (
    INSTALL_DIR_ENV,
    OUTCOME_FILE,
    PROGRESS_FILE,
    SPACE_FACTOR,
    UPDATE_DIR,
    UPDATE_FILE,
    StagedUpdate,
    executable,
    folder_size,
    free_bytes,
    remove,
    write_json,
)

log = structlog.get_logger(__name__)

RELEASE_PUBLIC_KEY = "MBJkh1dH2crKsOrQLcLiY+Q8udjO4jbZgEiLV8gbJAY="
"""The project's release public key (raw Ed25519, base64): only bundles it verifies are staged."""
PUBLIC_KEY_ENV = "OIBUS_RELEASE_PUBLIC_KEY"
"""Environment variable that replaces :data:`RELEASE_PUBLIC_KEY` (same encoding), for tests and test builds."""

_STAGING = ".update-staging"
_remote_updates_ignored = False


class UpgradeRefused(OIBusError, RuntimeError):
    """A bundle was not staged; ``reason`` says why in words an operator can act on. Nothing was left behind."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class UpgradeOutcome(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """How the last upgrade ended, as the launcher recorded it."""

    status: Literal["completed", "rolled-back", "refused"]
    """``completed``: the new version stayed up; ``rolled-back``: it did not, the old one is back with its data;
    ``refused``: the launcher did not apply the package (sums, disk space), nothing changed."""
    from_version: str
    """The version that staged the upgrade."""
    to_version: str
    """The version of the package."""
    reason: str
    """Why it ended so, in words."""
    command_id: str | None = None
    """The ``command_id`` given to :func:`stage_upgrade`."""
    finished_at: str = ""
    """When the launcher decided (ISO 8601, UTC)."""


def ignore_remote_updates(ignored: bool = True) -> None:
    """Make :func:`stage_upgrade` refuse (``--ignoreRemoteUpdate``, set once by the command line)."""
    global _remote_updates_ignored
    _remote_updates_ignored = ignored


def release_public_key() -> Ed25519PublicKey:
    """The key bundles must be signed with: :data:`PUBLIC_KEY_ENV` if set, else :data:`RELEASE_PUBLIC_KEY`."""
    override = os.environ.get(PUBLIC_KEY_ENV)
    try:
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(override or RELEASE_PUBLIC_KEY, validate=True))
    except (binascii.Error, ValueError) as err:
        raise UpgradeRefused(f"{PUBLIC_KEY_ENV}: expected a base64 raw Ed25519 public key ({err})") from err


def install_folder() -> Path:
    """Where the launcher that started this engine applies upgrades (it says so in :data:`INSTALL_DIR_ENV`)."""
    value = os.environ.get(INSTALL_DIR_ENV)
    if not value:
        raise UpgradeRefused(
            f"no launcher applies upgrades here ({INSTALL_DIR_ENV} is unset: the engine was not started by "
            "oibus-launcher from an install folder with --config)"
        )
    path = Path(value)
    if not (path / "binaries").is_dir():
        raise UpgradeRefused(f"{INSTALL_DIR_ENV}: {path} is not an install folder (no binaries/)")
    return path


def stage_upgrade(data_dir: Path, bundle: Path, *, command_id: str | None = None) -> str:
    """Verify ``bundle`` and unpack it to ``update/`` with ``update.json`` for the launcher; return its version.

    Checks, in order: remote upgrades are allowed (``--ignoreRemoteUpdate``), a launcher applies them, none is
    already staged or running, the bundle is a zip whose ``manifest.sig`` verifies ``manifest.json`` with the
    release key, the manifest is for this platform and names exactly the files the zip holds with their
    SHA-256, and the disk can hold it plus the backup of ``data_dir``. Any failure raises
    :class:`UpgradeRefused` and leaves nothing behind. After success the caller reports the command and calls
    :func:`request_restart`: the launcher applies the upgrade when the engine exits, and
    :func:`upgrade_outcome` tells how it went (with this ``command_id``).
    """
    if _remote_updates_ignored:
        raise UpgradeRefused("remote upgrades are disabled on this OIBus (--ignoreRemoteUpdate)")
    install = install_folder()
    if (install / UPDATE_FILE).exists():
        raise UpgradeRefused(f"an upgrade is already staged ({install / UPDATE_FILE}); restart the engine to apply it")
    if (install / PROGRESS_FILE).exists():
        raise UpgradeRefused("an upgrade is in progress (the launcher has not confirmed or rolled back the last one)")
    staging = install / _STAGING
    remove(staging)
    try:
        manifest = _unpack(bundle, staging, data_dir)
        remove(install / UPDATE_DIR)
        os.replace(staging, install / UPDATE_DIR)
        digest = hashlib.sha256((install / UPDATE_DIR / MANIFEST).read_bytes()).hexdigest()
        staged = StagedUpdate(manifest.version, engine_version(), digest, command_id)
        # Written last: its presence tells the launcher that update/ is complete.
        write_json(install / UPDATE_FILE, staged.to_json())
    except (UpgradeRefused, OSError, zipfile.BadZipFile, EOFError, NotImplementedError, zlib.error) as err:
        remove(staging)
        remove(install / UPDATE_DIR)
        (install / UPDATE_FILE).unlink(missing_ok=True)
        reason = err.reason if isinstance(err, UpgradeRefused) else f"cannot unpack the bundle: {err}"
        log.warning("upgrade_refused", reason=reason, bundle=str(bundle), commandId=command_id)
        raise UpgradeRefused(reason) from err
    log.info("upgrade_staged", fromVersion=engine_version(), toVersion=manifest.version, commandId=command_id)
    return manifest.version


def _unpack(bundle: Path, target: Path, data_dir: Path) -> Manifest:
    """Check the signature and the file list, extract to ``target``, check the sums."""
    try:
        archive = zipfile.ZipFile(bundle)
    except (OSError, zipfile.BadZipFile) as err:
        raise UpgradeRefused(f"bundle: not a readable zip archive ({err})") from err
    with archive:
        members = {info.filename: info for info in archive.infolist() if not info.is_dir()}
        for name in (MANIFEST, SIGNATURE):
            if name not in members:
                raise UpgradeRefused(f"bundle: {name} is missing (not a signed OIBus release)")
        try:
            raw = archive.read(MANIFEST)
            signature = base64.b64decode(archive.read(SIGNATURE).strip(), validate=True)
        except (binascii.Error, ValueError) as err:
            raise UpgradeRefused(f"bundle: {SIGNATURE} is not base64 ({err})") from err
        try:
            release_public_key().verify(signature, raw)
        except InvalidSignature as err:
            raise UpgradeRefused(f"bundle: {SIGNATURE} does not verify {MANIFEST} with the release key") from err
        try:
            manifest = parse_manifest(raw)
            for name in members:
                safe_path(name)
        except BundleError as err:
            raise UpgradeRefused(f"bundle: {err}") from err
        if manifest.platform != this_platform():
            raise UpgradeRefused(f"bundle: it is for {manifest.platform}, this OIBus runs on {this_platform()}")
        if f"binaries/{executable('oibus')}" not in manifest.files:
            raise UpgradeRefused(f"bundle: it has no binaries/{executable('oibus')}")
        unlisted = sorted(set(members) - set(manifest.files) - {MANIFEST, SIGNATURE})
        missing = sorted(set(manifest.files) - set(members))
        if unlisted or missing:
            problem = f"{unlisted[0]} is not in {MANIFEST}" if unlisted else f"{missing[0]} is missing"
            raise UpgradeRefused(f"bundle: {problem}")
        unpacked = sum(info.file_size for info in members.values())
        needed = unpacked + SPACE_FACTOR * folder_size(data_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        available = free_bytes(target.parent)
        if available < needed:
            raise UpgradeRefused(
                f"not enough disk space: {available} bytes free, {needed} needed (the unpacked bundle and "
                f"{SPACE_FACTOR} x the data folder for its backup)"
            )
        for name, info in members.items():
            path = target / name
            path.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, path.open("wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
            # Zip keeps Unix modes in the high bits of external_attr: keep only "executable or not".
            executable_bit = (info.external_attr >> 16) & stat.S_IXUSR
            path.chmod(0o755 if executable_bit else 0o644)
    try:
        check_tree(target, manifest)
    except BundleError as err:
        raise UpgradeRefused(f"bundle: {err}") from err
    return manifest


def upgrade_outcome(data_dir: Path) -> UpgradeOutcome | None:
    """The outcome of the last upgrade, once: the record is removed as it is read; None when there is none.

    The launcher writes it when the outcome is final: a refusal or a rollback before it starts the previous
    version again, a completion once the new version has stayed up for the stability window (30 s by
    default), that is after the new engine started: while :func:`upgrade_on_trial` is true, the verdict is
    still to come. A record that cannot be read is logged and dropped.
    """
    path = data_dir / OUTCOME_FILE
    if not path.exists():
        return None
    try:
        raw = path.read_bytes()
        path.unlink()
    except OSError as err:
        log.warning("upgrade_outcome_unreadable", path=str(path), error=str(err))
        return None
    try:
        outcome = msgspec.json.decode(raw, type=UpgradeOutcome)
    except (msgspec.DecodeError, msgspec.ValidationError) as err:
        log.warning("upgrade_outcome_unreadable", path=str(path), error=str(err))
        return None
    log.info(
        "upgrade_outcome",
        status=outcome.status,
        fromVersion=outcome.from_version,
        toVersion=outcome.to_version,
        reason=outcome.reason,
        commandId=outcome.command_id,
    )
    return outcome


def upgrade_on_trial() -> bool:
    """Whether the launcher is still watching a new version (its outcome comes when the window has passed)."""
    folder = os.environ.get(INSTALL_DIR_ENV)
    if not folder:
        return False
    return (Path(folder) / PROGRESS_FILE).exists()


def request_restart(stop: asyncio.Event, *, reason: str, **fields: object) -> None:
    """Stop the engine gracefully; it exits 0 and the launcher starts it again (applying a staged upgrade).

    ``stop`` is the engine's stop event (``engine.api.keys.STOP_ENGINE``); ``reason`` and ``fields`` go to the
    log (``api`` with the user, ``oianalytics`` with the command id...).
    """
    log.info("engine_restart_requested", reason=reason, **fields)
    stop.set()
