"""``launcher.upgrade.Upgrader`` in process: refusals that touch nothing, and upgrades interrupted by a crash."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from upgrade_bundles import script_install, snapshot

from launcher.bundle import MANIFEST, Manifest, hash_tree, this_platform
from launcher.upgrade import StagedUpdate, Trial, Upgrader, write_json


def staged_site(tmp_path: Path) -> tuple[Upgrader, Path, Path]:
    """Version 1.0 installed, 2.0 staged as the engine stages it, and a data folder."""
    install = script_install(tmp_path / "install", "1.0", "pass\n")
    update = script_install(install / "update", "2.0", "pass\n")
    raw = Manifest(version="2.0", platform=this_platform(), files=hash_tree(update)).to_json()
    (update / MANIFEST).write_bytes(raw)
    staged = StagedUpdate("2.0", "1.0", hashlib.sha256(raw).hexdigest(), "cmd-1")
    write_json(install / "update.json", staged.to_json())
    data = tmp_path / "data"
    (data / "cache").mkdir(parents=True)
    (data / "oibus.db").write_bytes(b"x" * 1000)
    return Upgrader(install, data), install, data


def outcome(data: Path) -> dict[str, object]:
    body: dict[str, object] = json.loads((data / "upgrade-outcome.json").read_text())
    return body


def test_not_enough_disk_space_is_refused_before_any_backup(tmp_path: Path) -> None:
    upgrader, install, data = staged_site(tmp_path)
    upgrader = Upgrader(install, data, disk_free=lambda _path: 1999)  # the data folder is 1000 bytes
    binaries, data_before = snapshot(install / "binaries"), snapshot(data)

    assert upgrader.prepare() is None

    assert snapshot(install / "binaries") == binaries
    assert snapshot(data, skip=("upgrade-outcome.json",)) == data_before
    assert sorted(path.name for path in install.iterdir()) == ["binaries"]  # no backup, staging dropped
    record = outcome(data)
    assert record["status"] == "refused"
    assert record["commandId"] == "cmd-1"
    assert "not enough disk space to back up the data folder: 1999 bytes free, 2000 needed" in str(record["reason"])


def test_enough_disk_space_applies(tmp_path: Path) -> None:
    upgrader, install, data = staged_site(tmp_path)
    upgrader = Upgrader(install, data, disk_free=lambda _path: 2000)

    assert upgrader.prepare() == Trial(from_version="1.0", to_version="2.0", command_id="cmd-1")
    assert (install / "binaries" / "VERSION").read_text() == "2.0"
    assert (install / "backup" / "binaries" / "VERSION").read_text() == "1.0"
    assert (install / "backup" / "data-folder" / "oibus.db").read_bytes() == b"x" * 1000


@pytest.mark.parametrize("body", ["{not json", json.dumps({"version": "2.0", "manifestSha256": "short"})])
def test_an_unreadable_staging_record_is_refused(tmp_path: Path, body: str) -> None:
    upgrader, install, data = staged_site(tmp_path)
    (install / "update.json").write_text(body)

    assert upgrader.prepare() is None
    assert outcome(data)["status"] == "refused"
    assert "update.json" in str(outcome(data)["reason"])
    assert (install / "binaries" / "VERSION").read_text() == "1.0"


def test_a_launcher_that_died_while_swapping_restores_the_old_version(tmp_path: Path) -> None:
    upgrader, install, data = staged_site(tmp_path)
    data_before = snapshot(data)
    trial = upgrader.prepare()
    assert trial is not None
    (data / "oibus.db").write_bytes(b"changed by 2.0")
    # As if the power went off in the middle of the swap: the record says so.
    write_json(install / "upgrade-progress.json", {"phase": "swap", "from_version": "1.0", "to_version": "2.0"})

    assert Upgrader(install, data).prepare() is None

    assert (install / "binaries" / "VERSION").read_text() == "1.0"
    assert snapshot(data, skip=("upgrade-outcome.json",)) == data_before
    assert outcome(data)["status"] == "rolled-back"
    assert sorted(path.name for path in install.iterdir()) == ["binaries"]


def test_a_launcher_that_died_during_the_backup_starts_over(tmp_path: Path) -> None:
    upgrader, install, _data = staged_site(tmp_path)
    (install / "backup" / "data-folder").mkdir(parents=True)  # a partial copy, never restored
    write_json(install / "upgrade-progress.json", {"phase": "backup", "from_version": "1.0", "to_version": "2.0"})

    trial = upgrader.prepare()

    assert trial is not None and trial.to_version == "2.0"
    assert (install / "binaries" / "VERSION").read_text() == "2.0"
    assert (install / "backup" / "data-folder" / "oibus.db").exists()


def test_a_trial_is_resumed_then_confirmed(tmp_path: Path) -> None:
    upgrader, install, data = staged_site(tmp_path)
    assert upgrader.prepare() is not None

    resumed = Upgrader(install, data).prepare()  # a new launcher process, same install
    assert resumed == Trial(from_version="1.0", to_version="2.0", command_id="cmd-1")
    upgrader.confirm(resumed)

    assert outcome(data)["status"] == "completed"
    assert sorted(path.name for path in install.iterdir()) == ["binaries"]
    assert (install / "binaries" / "VERSION").read_text() == "2.0"
