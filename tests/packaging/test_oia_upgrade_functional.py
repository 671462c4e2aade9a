"""Issue 7, acceptance 4: OIAnalytics' ``update-version`` command, end to end with the launcher and real bundles.

The bundle comes from the fake OIAnalytics' asset endpoint only; the engine verifies and stages it and exits,
the launcher swaps it in and watches it through the stability window, and the next engine reports the
command: COMPLETED when the new version runs, ERRORED when it was rolled back.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from launcher_process import LauncherRun
from release_build import Release, Y, Z
from test_bundle_functional import Installed, X

sys.path.insert(0, str(Path(__file__).parent.parent / "engine" / "oianalytics"))

from oia_support import FAST_CHECK, register, wait_until
from servers.oianalytics import FakeOIAnalytics

# The session's release build (PyInstaller, bounded at 1200 s by its own subprocess timeout) runs inside the
# first test that needs it: the test timeout must cover it on a loaded machine.
pytestmark = pytest.mark.timeout(1500)


def upgrade(fake: FakeOIAnalytics, running: str, bundle: Path, version: str) -> str:
    fake.assets[version] = bundle.read_bytes()
    return fake.add_command(
        "update-version", running, version=version, assetId=version, updateLauncher=False, backupFoldersPattern=""
    )


def final(fake: FakeOIAnalytics, command_id: str) -> dict[str, Any]:
    found: dict[str, Any] = wait_until(lambda: fake.final_status(command_id), 180, f"final status of {command_id}")
    return found


def test_upgrade_command_completes_on_y_and_a_broken_z_ends_rolled_back_and_errored(
    tmp_path: Path, release: Release, launchers: list[LauncherRun]
) -> None:
    fake = FakeOIAnalytics()
    with fake:
        site = Installed(tmp_path, release, launchers, window_s=3, extra_env=FAST_CHECK)
        register(site.api, fake)

        to_y = upgrade(fake, X, release.y, Y)
        site.wait_version(Y, timeout_s=120)
        done = final(fake, to_y)
        assert done["status"] == "COMPLETED", (done.get("result"), site.run.log()[-4000:])
        assert Y in done["result"]

        to_z = upgrade(fake, Y, release.z, Z)
        failed = final(fake, to_z)
        assert failed["status"] == "ERRORED", failed
        site.wait_version(Y, timeout_s=120)
        assert fake.problems == []
        assert site.run.terminate() == 0
