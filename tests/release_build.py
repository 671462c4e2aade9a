"""One real release build per test run, shared by the xdist workers, and the bundles made from it.

The ``release`` fixture (``tests/conftest.py``) builds this checkout once with ``packaging/build.py``
(PyInstaller), signed with a throwaway key, then derives the other versions cheaply with ``restamp``: version
Y, and a version Z that crashes at start (a compiled module removed from its binaries, then signed: a broken
release, not a tampered one).

``OIBUS_TEST_RELEASE_DIR=DIR`` keeps the build in DIR and reuses it in later runs (to iterate on these tests
without a build each time; delete DIR after changing the code under test).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from upgrade_bundles import REPO, packaging_build, public_key_b64, write_key

from engine.version import engine_version

Y = "99.0.0"
Z = "99.0.1"


@dataclass(frozen=True)
class Release:
    """The bundles of one build: X (this checkout), Y (X restamped), Z (restamped, crashes at start)."""

    public_key: str
    x: Path
    y: Path
    z: Path
    build_seconds: float


def _build(out: Path) -> None:
    build = packaging_build()
    key = Ed25519PrivateKey.generate()
    key_file = write_key(key, out / "test-release.key")
    started = time.monotonic()
    # The documented command as written: relative script and relative --out, from the repository root.
    relative_out = os.path.relpath(out, REPO)
    subprocess.run(
        [sys.executable, "packaging/build.py", "build", "--out", relative_out, "--key", str(key_file)],
        check=True,
        timeout=1200,
        cwd=REPO,
    )
    seconds = time.monotonic() - started
    x_folder = out / build.bundle_name(engine_version())
    build.archive(build.restamp(x_folder, Y, out / "y", key), out / f"{build.bundle_name(Y)}.zip")
    z_folder = build.restamp(x_folder, Z, out / "z", key)
    # The compiled half of msgspec: the engine cannot even load its configuration without it.
    (library,) = (z_folder / "binaries" / "_internal" / "msgspec").glob("_core*")
    library.unlink()
    build.sign(z_folder, key, Z)
    build.archive(z_folder, out / f"{build.bundle_name(Z)}.zip")
    shutil.rmtree(out / "work")
    summary = {"publicKey": public_key_b64(key), "buildSeconds": seconds}
    (out / "release.json").write_text(json.dumps(summary))


def shared_release(tmp_path_factory: pytest.TempPathFactory) -> Release:
    """Build once per run; the xdist workers of a run share the build folder (under a file lock)."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    if os.environ.get("OIBUS_TEST_RELEASE_DIR"):
        shared = Path(os.environ["OIBUS_TEST_RELEASE_DIR"])
        shared.mkdir(parents=True, exist_ok=True)
    out = shared / "release-build"
    out.mkdir(exist_ok=True)
    with (shared / "release-build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "release.json").exists():
            _build(out)
    summary = json.loads((out / "release.json").read_text())
    build = packaging_build()
    return Release(
        public_key=summary["publicKey"],
        x=out / f"{build.bundle_name(engine_version())}.zip",
        y=out / f"{build.bundle_name(Y)}.zip",
        z=out / f"{build.bundle_name(Z)}.zip",
        build_seconds=summary["buildSeconds"],
    )
