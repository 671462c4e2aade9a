"""Release bundles built by ``packaging/`` run without Python, and upgrade (or roll back) one to another.

Staging is done here with ``engine.upgrade.stage_upgrade``, as the OIAnalytics ``update-version`` command does,
then ``POST /api/engine/restart`` makes the engine exit so the launcher applies the upgrade.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import psutil
import pytest
from engine_process import north_body
from launcher_process import LauncherRun, api_up, engine_api, wait_until
from release_build import Release, Y, Z
from upgrade_bundles import snapshot, unzip

from engine.upgrade import stage_upgrade
from engine.version import engine_version

# The session's release build (PyInstaller, bounded at 1200 s by its own subprocess timeout) runs inside the
# first test that needs it: the test timeout must cover it on a loaded machine.
pytestmark = pytest.mark.timeout(1500)

X = engine_version()
NEVER = "0 0 0 1 1 *"  # a scan mode that does not fire during a test: Norths keep their cache


class Installed:
    """An unpacked bundle run by its own frozen launcher, with no Python on PATH."""

    def __init__(
        self,
        tmp_path: Path,
        release: Release,
        launchers: list[LauncherRun],
        window_s: float,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.tmp = tmp_path
        self.release = release
        self.install = unzip(release.x, tmp_path / "OIBus")
        self.data = tmp_path / "OIBusData"
        self.data.mkdir()
        (self.data / "oibus.init.json").write_text(json.dumps({"port": 0}))
        no_python = tmp_path / "empty-path"
        no_python.mkdir()
        env = {"PATH": str(no_python), "HOME": str(tmp_path), "LANG": "C.UTF-8", "OIBUS_LOG_LEVEL": "info"}
        env["OIBUS_RELEASE_PUBLIC_KEY"] = release.public_key
        env.update(extra_env or {})
        args = ["--config", str(self.data), "--upgrade-window", str(window_s), "--backoff-initial", "0.1"]
        self.run = LauncherRun(tmp_path, *args, command=[str(self.install / "oibus-launcher")], env=env)
        launchers.append(self.run)
        self.api = engine_api(self.data, self.run.log)
        self.wait_version(X)

    def version(self) -> str | None:
        if not api_up(self.api.port):
            return None
        status, info = self.api.request("GET", "/api/engine/info")
        return str(info["version"]) if status == 200 else None

    def wait_version(self, version: str, timeout_s: float = 60) -> dict[str, Any]:
        wait_until(lambda: self.version() == version, f"version {version}\n{self.run.log()[-3000:]}", timeout_s)
        info: dict[str, Any] = self.api.ok("GET", "/api/engine/info")
        return info

    def upgrade(self, bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("OIBUS_INSTALL_DIR", str(self.install))
        monkeypatch.setenv("OIBUS_RELEASE_PUBLIC_KEY", self.release.public_key)
        stage_upgrade(self.data, bundle, command_id="cmd-1")
        status, _ = self.api.request("POST", "/api/engine/restart")
        assert status == 204

    def engine(self) -> psutil.Process:
        """The engine process (the one-file launcher is a bootloader and its child: the engine is below)."""
        engine = self.install / "binaries" / "oibus"
        found = [
            proc
            for proc in self.run.tree()
            if Path(proc.exe()) == engine and "engine.worker" not in proc.cmdline() and proc.status() != "zombie"
        ]
        assert len(found) == 1, found
        return found[0]

    def outcome(self, status: str) -> str:
        """The engine's log line of the outcome it read (its OIAnalytics agent consumes the launcher's record)."""

        def line() -> str | None:
            return next((text for text in self.run.log().splitlines() if "upgrade_outcome status=" in text), None)

        wait_until(lambda: line() is not None, f"the engine reading an outcome\n{self.run.log()[-3000:]}")
        found = line()
        assert found is not None and f"status={status} " in found, found
        assert "commandId=cmd-1" in found
        return found

    def configuration(self) -> dict[str, Any]:
        """What oibus.db holds, without what each start rewrites (versions) or measures (connector states)."""
        engine = {key: value for key, value in self.api.ok("GET", "/api/engine").items() if "ersion" not in key}
        norths = [{k: v for k, v in north.items() if k != "state"} for north in self.api.ok("GET", "/api/north")]
        return {"engine": engine, "scanModes": self.api.ok("GET", "/api/scan-modes"), "norths": norths}

    def state(self, cache: Path) -> dict[str, Any]:
        """The configuration and the bytes of a North's cache: what an upgrade must keep."""
        return {"configuration": self.configuration(), "cache": snapshot(cache)}

    def cached_north(self) -> tuple[str, Path]:
        """A file-writer North whose cache holds a batch it will not send during the test."""
        mode = self.api.ok("POST", "/api/scan-modes", {"name": "never", "description": "", "cron": NEVER})
        body = north_body("keeper", "file-writer", {"outputFolder": str(self.tmp / "out")}, mode["id"])
        body["caching"]["trigger"]["numberOfElements"] = 1000
        north_id = str(self.api.ok("POST", "/api/north", body)["id"])
        self.api.wait_state("north", north_id, "RUNNING", timeout_s=60)
        values = [{"pointId": "p1", "timestamp": "2025-01-01T00:00:00.000Z", "data": {"value": "1"}}]
        path = f"/api/content/content?northId={north_id}&dataSourceId=test"
        self.api.ok("POST", path, {"type": "time-values", "content": values})
        cache = self.data / "cache" / f"north-{north_id}"
        wait_until(lambda: any(path.is_file() for path in cache.rglob("*")), "the batch in the North cache")
        return north_id, cache


def test_the_bundle_runs_without_python_on_path(tmp_path: Path, release: Release, launchers: list[LauncherRun]) -> None:
    site = Installed(tmp_path, release, launchers, window_s=30)
    info = site.wait_version(X)
    assert info["launcherVersion"] == X
    assert Path(info["binaryDirectory"]) == site.install / "binaries"
    engine = site.engine()
    assert "--launcherVersion" in engine.cmdline()
    assert not any("python" in Path(path).name for path in os.environ.get("PATH", "").split(":") if not path)
    # A worker is the same frozen program (``oibus -m engine.worker``): connectors run without Python too.
    north_id, _cache = site.cached_north()
    (worker,) = engine.children()
    assert Path(worker.exe()) == site.install / "binaries" / "oibus"
    assert site.api.ok("GET", f"/api/north/{north_id}")["state"]["state"] == "RUNNING"
    assert site.run.terminate() == 0


def test_upgrade_from_x_to_y_keeps_configuration_and_cache(
    tmp_path: Path, release: Release, launchers: list[LauncherRun], monkeypatch: pytest.MonkeyPatch
) -> None:
    site = Installed(tmp_path, release, launchers, window_s=3)
    north_id, cache = site.cached_north()
    before = site.state(cache)

    site.upgrade(release.y, monkeypatch)

    info = site.wait_version(Y)
    assert info["version"] == Y
    outcome = site.outcome("completed")
    assert f"fromVersion={X} " in outcome and f"toVersion={Y} " in outcome
    site.api.wait_state("north", north_id, "RUNNING", timeout_s=60)
    assert site.state(cache) == before
    assert not (site.install / "backup").exists()
    assert site.run.terminate() == 0


def test_y_dying_within_the_window_brings_back_x_and_its_data(
    tmp_path: Path, release: Release, launchers: list[LauncherRun], monkeypatch: pytest.MonkeyPatch
) -> None:
    site = Installed(tmp_path, release, launchers, window_s=120)
    _north_id, cache = site.cached_north()
    before = site.state(cache)
    binaries = snapshot(site.install / "binaries")

    site.upgrade(release.y, monkeypatch)
    site.wait_version(Y)
    # Data changes made after the backup, by version Y and beside it:
    site.api.ok("POST", "/api/scan-modes", {"name": "made by Y", "description": "", "cron": NEVER})
    (site.data / "cache" / "left-by-y").write_text("x")
    engine = site.engine()
    engine.kill()
    psutil.wait_procs([engine], timeout=10)

    site.wait_version(X)
    assert "exited with code -9" in site.outcome("rolled-back")
    assert site.state(cache) == before
    assert not (site.data / "cache" / "left-by-y").exists()
    assert snapshot(site.install / "binaries") == binaries
    assert site.run.terminate() == 0


def test_a_release_that_crashes_at_start_is_rolled_back(
    tmp_path: Path, release: Release, launchers: list[LauncherRun], monkeypatch: pytest.MonkeyPatch
) -> None:
    site = Installed(tmp_path, release, launchers, window_s=120)
    configuration = site.configuration()

    site.upgrade(release.z, monkeypatch)

    assert f"version {Z} exited with code 1" in site.outcome("rolled-back")
    site.wait_version(X)
    assert site.configuration() == configuration
    assert site.run.terminate() == 0
