"""Azurite's blob service (npm package ``azurite``, installed under ``.ci/node/`` by ``.ci/run``), as a child.

``azurite_blob(folder)`` yields the blob endpoint of the well-known development account, or raises
``AzuriteMissing`` when the package is not installed: a test skips on it, or fails when
``OIBUS_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["ACCOUNT", "ACCOUNT_KEY", "BINARY", "AzuriteMissing", "azurite_blob"]

ROOT = Path(__file__).resolve().parents[2]
BINARY = ROOT / ".ci" / "node" / "node_modules" / ".bin" / ("azurite-blob.cmd" if os.name == "nt" else "azurite-blob")
ACCOUNT = "devstoreaccount1"
# Azurite's published development key (the same in every installation; not a secret).
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
_LISTENING = re.compile(r"listens on (http://\S+)")


class AzuriteMissing(RuntimeError):
    """Azurite is not installed (``npm install --prefix .ci/node azurite``)."""


@contextmanager
def azurite_blob(folder: Path) -> Iterator[str]:
    """Start Azurite's blob service on a kernel-assigned port; yield ``http://127.0.0.1:<port>/devstoreaccount1``."""
    if not BINARY.exists():
        raise AzuriteMissing(f"azurite is not installed at {BINARY}: run npm install --prefix .ci/node azurite")
    process = subprocess.Popen(
        [
            str(BINARY),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            "0",
            "--location",
            str(folder),
            "--silent",
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = None
        for line in process.stdout:
            found = _LISTENING.search(line)
            if found:
                url = found.group(1)
                break
        if url is None:
            raise RuntimeError(f"azurite exited with {process.wait()} before listening")
        yield f"{url}/{ACCOUNT}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
