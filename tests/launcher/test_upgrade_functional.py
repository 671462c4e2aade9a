"""Upgrades end to end with a real launcher process and script engines: complete, roll back, refuse, self-update.

The engines are small Python scripts installed as ``binaries/oibus`` (the frozen engine's place) that record
each start and exit 0 on a restart request, as the real engine does after staging. Staging goes through the
real ``engine.upgrade.stage_upgrade`` with a throwaway release key.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from launcher_process import LauncherRun, records, wait_until
from upgrade_bundles import public_key_b64, script_install, signed_zip, snapshot

from engine.upgrade import UpgradeOutcome, stage_upgrade, upgrade_outcome
from engine.version import engine_version

KEY = Ed25519PrivateKey.generate()
X = engine_version()  # the version stage_upgrade reports as "from"
Y = "99.0.0"

# The fake engine: records its start, exits 0 on a restart request; with a CRASH file beside it, it damages
# the data folder and exits 3 (a new version that breaks at start after touching data).
ENGINE = """\
import json, os, pathlib, signal, sys, time
here = pathlib.Path(sys.argv[0]).resolve().parent
argv = sys.argv[1:]
data = pathlib.Path(argv[argv.index("--config") + 1])
with (data.parent / "runs.jsonl").open("a") as out:
    out.write(json.dumps({"pid": os.getpid(), "version": (here / "VERSION").read_text(),
                          "installDir": os.environ.get("OIBUS_INSTALL_DIR")}) + "\\n")
if (here / "CRASH").exists():
    (data / "oibus.db").write_text("damaged by the new version")
    (data / "cache" / "written-during-trial").write_text("x")
    sys.exit(3)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
restart = data.parent / "restart-request"
while True:
    if restart.exists():
        restart.unlink()
        sys.exit(0)
    time.sleep(0.05)
"""


def launcher_script(record: Path, label: str) -> str:
    """An ``oibus-launcher`` that records its process id and runs this checkout's launcher."""
    python = shlex.quote(sys.executable)
    return f'#!/bin/sh\necho "{label} $$" >> {shlex.quote(str(record))}\nexec {python} -m launcher "$@"\n'


class Site:
    """An install folder running version X under a real launcher, with a data folder holding some state."""

    def __init__(self, tmp_path: Path, launchers: list[LauncherRun], window_s: float, *, via_script: bool = False):
        self.tmp = tmp_path
        self.install = script_install(
            tmp_path / "install", X, ENGINE, launcher=launcher_script(tmp_path / "launchers.txt", "X")
        )
        self.data = tmp_path / "data"
        (self.data / "cache" / "north-1" / "content").mkdir(parents=True)
        (self.data / "oibus.db").write_text("configuration")
        (self.data / "crypto.db").write_text("keys")
        (self.data / "cache" / "north-1" / "content" / "batch-1.json").write_text("[1, 2, 3]")
        args = ["--config", str(self.data), "--install-dir", str(self.install), "--upgrade-window", str(window_s)]
        args += ["--backoff-initial", "0.05", "--stable-after", "1"]
        command = [str(self.install / "oibus-launcher")] if via_script else None
        self.run = LauncherRun(tmp_path, *args, command=command)
        launchers.append(self.run)
        self.wait_runs([X])

    def files(self) -> tuple[dict[str, bytes], dict[str, bytes]]:
        """The bytes of every file of the binaries and of the data folder."""
        return snapshot(self.install / "binaries"), snapshot(self.data)

    def runs(self) -> list[str]:
        return [entry["version"] for entry in records(self.tmp / "runs.jsonl")]

    def wait_runs(self, versions: list[str]) -> None:
        wait_until(lambda: self.runs() == versions, f"engine starts {versions} (got {self.runs()})\n{self.run.log()}")

    def stage(self, monkeypatch: pytest.MonkeyPatch, *, crash: bool = False, launcher: str | None = None) -> None:
        """Stage version Y as the OIAnalytics command does, then ask the engine to restart."""
        bundle = script_install(self.tmp / "y", Y, ENGINE, launcher=launcher)
        if crash:
            (bundle / "binaries" / "CRASH").write_text("")
        zipped = signed_zip(bundle, KEY, Y, self.tmp / "y.zip")
        monkeypatch.setenv("OIBUS_INSTALL_DIR", str(self.install))
        monkeypatch.setenv("OIBUS_RELEASE_PUBLIC_KEY", public_key_b64(KEY))
        assert stage_upgrade(self.data, zipped, command_id="cmd-42") == Y

    def restart(self) -> None:
        (self.tmp / "restart-request").touch()

    def outcome(self) -> UpgradeOutcome:
        wait_until(lambda: (self.data / "upgrade-outcome.json").exists(), f"an upgrade outcome\n{self.run.log()}")
        found = upgrade_outcome(self.data)
        assert found is not None
        return found


def test_upgrade_completes_and_keeps_the_data(
    tmp_path: Path, launchers: list[LauncherRun], monkeypatch: pytest.MonkeyPatch
) -> None:
    site = Site(tmp_path, launchers, window_s=1)
    assert records(tmp_path / "runs.jsonl")[0]["installDir"] == str(site.install)
    data_before = snapshot(site.data)
    site.stage(monkeypatch)
    site.restart()

    site.wait_runs([X, Y])
    outcome = site.outcome()
    assert (outcome.status, outcome.from_version, outcome.to_version, outcome.command_id) == (
        "completed",
        X,
        Y,
        "cmd-42",
    )
    assert (site.install / "binaries" / "VERSION").read_text() == Y
    assert sorted(path.name for path in site.install.iterdir()) == ["binaries", "oibus-launcher"]
    assert snapshot(site.data) == data_before
    assert site.run.terminate() == 0
    assert site.runs() == [X, Y]


def test_a_new_version_that_crashes_is_rolled_back_with_the_data_as_before(
    tmp_path: Path, launchers: list[LauncherRun], monkeypatch: pytest.MonkeyPatch
) -> None:
    site = Site(tmp_path, launchers, window_s=60)
    before = site.files()
    site.stage(monkeypatch, crash=True)
    site.restart()

    site.wait_runs([X, Y, X])
    outcome = site.outcome()
    assert outcome.status == "rolled-back"
    assert outcome.command_id == "cmd-42"
    assert f"version {Y} exited with code 3" in outcome.reason
    # Version Y damaged oibus.db and wrote into cache/ after the backup: all of it is undone.
    assert site.files() == before
    assert sorted(path.name for path in site.install.iterdir()) == ["binaries", "oibus-launcher"]
    assert "upgrade_rolled_back" in site.run.log()
    assert site.run.terminate() == 0


def test_a_package_altered_after_staging_is_refused_without_touching_anything(
    tmp_path: Path, launchers: list[LauncherRun], monkeypatch: pytest.MonkeyPatch
) -> None:
    site = Site(tmp_path, launchers, window_s=1)
    before = site.files()
    site.stage(monkeypatch)
    (site.install / "update" / "binaries" / "VERSION").write_text("tampered")
    site.restart()

    outcome = site.outcome()
    assert outcome.status == "refused"
    assert "binaries/VERSION: SHA-256 is" in outcome.reason
    site.wait_runs([X, X])
    assert site.files() == before
    assert not (site.install / "update").exists()
    assert not (site.install / "update.json").exists()
    assert "upgrade_refused" in site.run.log()
    assert site.run.terminate() == 0


@pytest.mark.skipif(sys.platform == "win32", reason="the launcher re-executes itself with execv on POSIX only")
def test_a_new_launcher_takes_over_in_the_same_process(
    tmp_path: Path, launchers: list[LauncherRun], monkeypatch: pytest.MonkeyPatch
) -> None:
    site = Site(tmp_path, launchers, window_s=1, via_script=True)
    new_launcher = launcher_script(tmp_path / "launchers.txt", "Y")
    site.stage(monkeypatch, launcher=new_launcher)
    site.restart()

    site.wait_runs([X, Y])
    assert site.outcome().status == "completed"
    started = (tmp_path / "launchers.txt").read_text().split()
    # The new launcher ran in the launcher's own process: a service manager sees no exit.
    assert started == ["X", str(site.run.proc.pid), "Y", str(site.run.proc.pid)]
    assert (site.install / "oibus-launcher").read_text() == new_launcher
    assert not (site.install / "backup").exists()
    assert site.run.terminate() == 0
