"""``oibus-setup.sh`` and ``oibus-uninstall.sh`` run for real against a temp root; systemd checks the unit."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from upgrade_bundles import REPO, executable_file, script_install

SCRIPTS = REPO / "packaging" / "linux"


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """An unpacked bundle: a launcher, binaries/ and the Linux scripts."""
    folder = script_install(tmp_path / "bundle", "1.0.0", "pass\n", launcher="#!/bin/sh\n")
    for script in SCRIPTS.iterdir():
        shutil.copy2(script, folder / script.name)
    return folder


@pytest.fixture
def systemctl(tmp_path: Path) -> Path:
    """A systemctl that records its arguments (no systemd runs the services of a test)."""
    log = tmp_path / "systemctl.log"
    return executable_file(tmp_path / "systemctl", f'#!/bin/sh\necho "$@" >> "{log}"\n')


def setup(bundle: Path, root: Path, systemctl: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [str(bundle / "oibus-setup.sh"), "--root", str(root), "--systemctl", str(systemctl), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_install_into_a_temp_root(tmp_path: Path, bundle: Path, systemctl: Path) -> None:
    root = tmp_path / "root"
    install = tmp_path / "opt" / "oibus site"
    data = tmp_path / "var" / "oibus-data"
    done = setup(
        bundle, root, systemctl, "-b", str(install), "-c", str(data), "-n", "site1",
        "-u", "operator", "-p", 'se"cr\\et', "-port", "2224",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr

    assert (install / "binaries" / "VERSION").read_text() == "1.0.0"
    assert (install / "oibus-launcher").stat().st_mode & 0o111
    assert (install / "oibus-uninstall.sh").is_file()
    assert (install / "oibus-env").read_text() == f"ARG1=--config\nARG2={data}\n"
    init = data / "oibus.init.json"
    assert json.loads(init.read_text()) == {
        "engineName": "site1",
        "adminUsername": "operator",
        "adminPassword": 'se"cr\\et',
        "port": 2224,
    }
    assert init.stat().st_mode & 0o777 == 0o600
    assert (root / "etc" / "oibus" / "instances" / "site1").read_text() == f"{install}\n{data}\n"
    unit = root / "etc" / "systemd" / "system" / "oibus-site1.service"
    text = unit.read_text()
    for line in (
        "Restart=always",
        "KillSignal=SIGTERM",
        "KillMode=mixed",
        f'ExecStart="{install}/oibus-launcher" ${{ARG1}} ${{ARG2}}',
        f"EnvironmentFile={install}/oibus-env",
    ):
        assert line in text.splitlines()
    assert (tmp_path / "systemctl.log").read_text() == "daemon-reload\nenable --now oibus-site1.service\n"

    verify = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    assert (verify.returncode, verify.stdout, verify.stderr) == (0, "", "")


def test_systemd_analyze_would_catch_a_broken_unit(tmp_path: Path) -> None:
    # The check above can fail: a unit with a typo is reported.
    unit = tmp_path / "broken.service"
    unit.write_text("[Service]\nExecStart=/bin/true\nRestart=alwayz\n")
    verify = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert "alwayz" in verify.stderr


def test_second_instance_on_the_same_data_folder_is_refused(tmp_path: Path, bundle: Path, systemctl: Path) -> None:
    root = tmp_path / "root"
    data = tmp_path / "data"
    assert setup(bundle, root, systemctl, "-b", str(tmp_path / "a"), "-c", str(data), "-n", "a").returncode == 0
    done = setup(bundle, root, systemctl, "-b", str(tmp_path / "b"), "-c", str(data), "-n", "b")
    assert done.returncode == 2
    assert f"folder '{data}' belongs to the instance 'a'" in done.stderr
    assert not (tmp_path / "b" / "binaries").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-n", "bad name"], "-n: instance name 'bad name'"),
        (["-port", "0"], "-port: expected a number from 1 to 65535, got '0'"),
        (["-port", "http"], "-port: expected a number"),
        (["-k", "maybe"], "-k: expected Y or N"),
        (["-b"], "option -b needs a value"),
        (["--frobnicate"], "unknown option --frobnicate"),
    ],
)
def test_bad_options_are_refused(tmp_path: Path, bundle: Path, systemctl: Path, args: list[str], message: str) -> None:
    done = setup(bundle, tmp_path / "root", systemctl, "-b", str(tmp_path / "i"), "-c", str(tmp_path / "d"), *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert not (tmp_path / "root" / "etc" / "systemd").exists()


def test_reinstall_keeps_or_wipes_the_configuration(tmp_path: Path, bundle: Path, systemctl: Path) -> None:
    root, install, data = tmp_path / "root", tmp_path / "install", tmp_path / "data"
    assert setup(bundle, root, systemctl, "-b", str(install), "-c", str(data)).returncode == 0
    (data / "oibus.db").write_text("configured")
    (data / "cache").mkdir()
    assert setup(bundle, root, systemctl, "-b", str(install), "-c", str(data), "-p", "new").returncode == 0
    assert (data / "oibus.db").read_text() == "configured"
    assert not (data / "oibus.init.json").exists()  # the first-start file is only for a first start

    assert setup(bundle, root, systemctl, "-b", str(install), "-c", str(data), "-k", "N").returncode == 0
    assert not (data / "oibus.db").exists()
    assert not (data / "cache").exists()
    assert (root / "etc" / "systemd" / "system" / "oibus.service").is_file()


def test_uninstall_removes_the_service_and_keeps_the_data(tmp_path: Path, bundle: Path, systemctl: Path) -> None:
    root, install, data = tmp_path / "root", tmp_path / "install", tmp_path / "data"
    assert setup(bundle, root, systemctl, "-b", str(install), "-c", str(data), "-n", "s").returncode == 0
    (data / "oibus.db").write_text("configured")
    (tmp_path / "systemctl.log").unlink()

    done = subprocess.run(
        [str(install / "oibus-uninstall.sh"), "-n", "s", "--root", str(root), "--systemctl", str(systemctl)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert not install.exists()
    assert (data / "oibus.db").read_text() == "configured"
    assert not (root / "etc" / "systemd" / "system" / "oibus-s.service").exists()
    assert not (root / "etc" / "oibus" / "instances" / "s").exists()
    assert (tmp_path / "systemctl.log").read_text() == "disable --now oibus-s.service\ndaemon-reload\n"
