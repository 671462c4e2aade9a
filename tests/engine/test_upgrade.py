"""``engine.upgrade``: staging verifies the signed manifest and leaves nothing behind on refusal; outcomes."""

from __future__ import annotations

import asyncio
import base64
import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from upgrade_bundles import public_key_b64, script_install, signed_zip, snapshot

from engine import upgrade
from engine.upgrade import UpgradeOutcome, UpgradeRefused, stage_upgrade, upgrade_outcome
from engine.version import engine_version
from launcher.bundle import MANIFEST, SIGNATURE, sha256_file

KEY = Ed25519PrivateKey.generate()


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An install folder that a launcher watches (OIBUS_INSTALL_DIR), trusting the test key."""
    folder = tmp_path / "install"
    (folder / "binaries").mkdir(parents=True)
    (folder / "binaries" / "oibus").write_text("the running version")
    monkeypatch.setenv("OIBUS_INSTALL_DIR", str(folder))
    monkeypatch.setenv("OIBUS_RELEASE_PUBLIC_KEY", public_key_b64(KEY))
    yield folder
    upgrade.ignore_remote_updates(False)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "oibus.db").write_bytes(b"config")
    return folder


def bundle(tmp_path: Path, version: str = "9.1.0", key: Ed25519PrivateKey = KEY) -> Path:
    folder = script_install(tmp_path / f"bundle-{version}", version, "print('engine')\n", launcher="#!/bin/sh\n")
    (folder / "oibus-setup.sh").write_text("#!/bin/sh\n")
    return signed_zip(folder, key, version, tmp_path / f"oibus-{version}.zip")


def test_stage_unpacks_the_verified_bundle_for_the_launcher(tmp_path: Path, install: Path, data: Path) -> None:
    zipped = bundle(tmp_path)

    assert stage_upgrade(data, zipped, command_id="cmd-1") == "9.1.0"

    update = install / "update"
    assert (update / "binaries" / "VERSION").read_text() == "9.1.0"
    assert (update / "binaries" / "oibus").stat().st_mode & 0o111  # still executable
    assert not (update / "oibus-setup.sh").stat().st_mode & 0o111
    staged = json.loads((install / "update.json").read_text())
    assert staged == {
        "version": "9.1.0",
        "fromVersion": engine_version(),
        "manifestSha256": sha256_file(update / MANIFEST),
        "commandId": "cmd-1",
    }
    assert (install / "binaries" / "oibus").read_text() == "the running version"
    assert sorted(path.name for path in install.iterdir()) == ["binaries", "update", "update.json"]


def replace_member(zipped: Path, name: str, content: bytes | None, extra: dict[str, bytes] | None = None) -> None:
    """Rewrite a zip with one member changed (None: removed) and extra members added."""
    with zipfile.ZipFile(zipped) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    if content is None:
        del members[name]
    else:
        members[name] = content
    members.update(extra or {})
    with zipfile.ZipFile(zipped, "w") as archive:
        for member, body in members.items():
            archive.writestr(member, body)


def other_key(zipped: Path) -> None:
    replace_member(zipped, "binaries/VERSION", b"9.1.0")  # unchanged content, re-signed below by another key
    with zipfile.ZipFile(zipped) as archive:
        raw = archive.read(MANIFEST)
    replace_member(zipped, SIGNATURE, base64.b64encode(Ed25519PrivateKey.generate().sign(raw)))


def other_platform(zipped: Path) -> None:
    with zipfile.ZipFile(zipped) as archive:
        manifest = json.loads(archive.read(MANIFEST))
    manifest["platform"] = "win-x64"
    raw = json.dumps(manifest).encode()
    replace_member(zipped, MANIFEST, raw, {SIGNATURE: base64.b64encode(KEY.sign(raw))})


def not_a_zip(zipped: Path) -> None:
    zipped.write_bytes(b"not a zip")


REFUSALS: dict[str, tuple[Callable[[Path], None], str]] = {
    "signature by another key": (other_key, "does not verify manifest.json with the release key"),
    "tampered file": (lambda z: replace_member(z, "binaries/oibus", b"evil"), "binaries/oibus: SHA-256 is"),
    "unlisted file": (lambda z: replace_member(z, "binaries/VERSION", b"9.1.0", {"x.so": b"x"}), "x.so is not in"),
    "missing file": (lambda z: replace_member(z, "binaries/VERSION", None), "binaries/VERSION is missing"),
    "path escaping the bundle": (
        lambda z: replace_member(z, "binaries/VERSION", b"9.1.0", {"../evil": b"x"}),
        "'../evil' is not a relative path inside the bundle",
    ),
    "no signature": (lambda z: replace_member(z, SIGNATURE, None), "manifest.sig is missing"),
    "not a zip": (lambda z: not_a_zip(z), "not a readable zip archive"),
    "another platform": (other_platform, "it is for win-x64"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_bad_bundle_is_refused_and_nothing_is_left(tmp_path: Path, install: Path, data: Path, case: str) -> None:
    spoil, reason = REFUSALS[case]
    zipped = bundle(tmp_path)
    spoil(zipped)
    before = snapshot(install)

    with pytest.raises(UpgradeRefused) as refused:
        stage_upgrade(data, zipped, command_id="cmd-1")

    assert reason in refused.value.reason
    assert snapshot(install) == before
    assert sorted(path.name for path in install.iterdir()) == ["binaries"]


def test_refusals_before_the_bundle_is_opened(
    tmp_path: Path, install: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    zipped = bundle(tmp_path)
    upgrade.ignore_remote_updates()
    with pytest.raises(UpgradeRefused, match="--ignoreRemoteUpdate"):
        stage_upgrade(data, zipped)
    upgrade.ignore_remote_updates(False)

    stage_upgrade(data, zipped)
    with pytest.raises(UpgradeRefused, match="already staged"):
        stage_upgrade(data, zipped)

    monkeypatch.setenv("OIBUS_RELEASE_PUBLIC_KEY", "not base64!")
    (install / "update.json").unlink()
    with pytest.raises(UpgradeRefused, match="OIBUS_RELEASE_PUBLIC_KEY: expected a base64"):
        stage_upgrade(data, zipped)

    monkeypatch.delenv("OIBUS_INSTALL_DIR")
    with pytest.raises(UpgradeRefused, match="no launcher applies upgrades here"):
        stage_upgrade(data, zipped)


def test_the_built_in_release_key_refuses_a_test_signed_bundle(
    tmp_path: Path, install: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OIBUS_RELEASE_PUBLIC_KEY")
    with pytest.raises(UpgradeRefused, match="does not verify"):
        stage_upgrade(data, bundle(tmp_path))


def test_upgrade_outcome_is_read_once(data: Path) -> None:
    assert upgrade_outcome(data) is None
    record = {
        "status": "rolled-back",
        "fromVersion": "1.0.0",
        "toVersion": "1.1.0",
        "reason": "version 1.1.0 exited with code 3",
        "commandId": "cmd-7",
        "finishedAt": "2025-01-01T00:00:00.000Z",
    }
    (data / "upgrade-outcome.json").write_text(json.dumps(record))

    assert upgrade_outcome(data) == UpgradeOutcome(
        status="rolled-back",
        from_version="1.0.0",
        to_version="1.1.0",
        reason="version 1.1.0 exited with code 3",
        command_id="cmd-7",
        finished_at="2025-01-01T00:00:00.000Z",
    )
    assert upgrade_outcome(data) is None


def test_an_unreadable_outcome_is_dropped(data: Path) -> None:
    (data / "upgrade-outcome.json").write_text('{"status": "exploded"}')
    assert upgrade_outcome(data) is None
    assert not (data / "upgrade-outcome.json").exists()


def test_request_restart_sets_the_stop_event() -> None:
    stop = asyncio.Event()
    upgrade.request_restart(stop, reason="oianalytics", commandId="cmd-1")
    assert stop.is_set()
