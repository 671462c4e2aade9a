"""The release bundle's manifest: the SHA-256 of every file, checked by the engine and again by the launcher.

A bundle is the install folder of one version (``oibus-launcher``, ``binaries/``, scripts) plus ``manifest.json``
(this module's format) and ``manifest.sig`` (an Ed25519 signature of the manifest's exact bytes, checked by the
engine with the release public key). Stdlib only: the launcher uses it, and so do the engine and the packaging.
"""

from __future__ import annotations

import hashlib
import json
import platform
import re
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

MANIFEST = "manifest.json"
"""The manifest's file name at the bundle's root."""
SIGNATURE = "manifest.sig"
"""The base64 Ed25519 signature of ``manifest.json``'s bytes, at the bundle's root."""
FORMAT = 1
"""The manifest format this code writes and reads."""

_SHA256 = re.compile(r"[0-9a-f]{64}")
_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}")


class BundleError(ValueError):
    """A bundle or its manifest is not acceptable; the message names the file or field and the problem."""


@dataclass(frozen=True, slots=True)
class Manifest:
    """What a bundle holds: its version, its platform and the SHA-256 of each file (relative POSIX paths)."""

    version: str
    platform: str
    files: dict[str, str]

    def to_json(self) -> bytes:
        """The canonical bytes (sorted keys): what is signed and written as ``manifest.json``."""
        body: dict[str, Any] = {"format": FORMAT, "product": "oibus", "version": self.version}
        body |= {"platform": self.platform, "files": dict(sorted(self.files.items()))}
        return json.dumps(body, indent=1, sort_keys=True).encode() + b"\n"


def this_platform() -> str:
    """The bundle platform of this machine, in upstream's asset naming (``linux-x64``, ``win-x64``, ``linux-arm64``)."""
    system = "win" if sys.platform == "win32" else "macos" if sys.platform == "darwin" else "linux"
    machine = platform.machine().lower()
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return f"{system}-{arch}"


def valid_version(value: object) -> str:
    """``value`` if it is a plausible version string (it becomes part of log lines and file contents)."""
    if not isinstance(value, str) or not _VERSION.fullmatch(value):
        raise BundleError(f"{MANIFEST}: version: expected a version such as 1.2.3, got {value!r}")
    return value


def safe_path(name: str) -> str:
    """``name`` if it is a relative POSIX path that stays inside the bundle (no ``..``, no drive, no root)."""
    path = PurePosixPath(name)
    if (
        not name
        or "\\" in name
        or path.is_absolute()
        or ":" in path.parts[0]
        or any(part in ("", ".", "..") for part in name.split("/"))
    ):
        raise BundleError(f"{MANIFEST}: files: {name!r} is not a relative path inside the bundle")
    return name


def parse_manifest(raw: bytes) -> Manifest:
    """Decode and validate ``manifest.json``; every problem names its field."""
    try:
        body: Any = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BundleError(f"{MANIFEST}: not valid JSON ({err})") from err
    if not isinstance(body, dict):
        raise BundleError(f"{MANIFEST}: expected an object, got {type(body).__name__}")
    if body.get("format") != FORMAT:
        raise BundleError(f"{MANIFEST}: format: expected {FORMAT}, got {body.get('format')!r}")
    if body.get("product") != "oibus":
        raise BundleError(f"{MANIFEST}: product: expected 'oibus', got {body.get('product')!r}")
    target = body.get("platform")
    if not isinstance(target, str) or not target:
        raise BundleError(f"{MANIFEST}: platform: expected a platform such as linux-x64, got {target!r}")
    files = body.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleError(f"{MANIFEST}: files: expected a non-empty object of path to SHA-256")
    for name, digest in files.items():
        safe_path(name)
        if name in (MANIFEST, SIGNATURE):
            raise BundleError(f"{MANIFEST}: files: {name!r} cannot list itself")
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            raise BundleError(f"{MANIFEST}: files.{name}: expected a lowercase hex SHA-256, got {digest!r}")
    return Manifest(version=valid_version(body.get("version")), platform=target, files=dict(files))


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tree_files(root: Path) -> dict[str, Path]:
    """Every regular file under ``root`` by relative POSIX path; a symbolic link is refused (not in bundles)."""
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        if path.is_symlink():
            raise BundleError(f"{name}: symbolic links are not allowed in a bundle")
        if path.is_file():
            found[name] = path
    return found


def hash_tree(root: Path) -> dict[str, str]:
    """The SHA-256 of every file under ``root`` except the manifest and its signature."""
    return {name: sha256_file(path) for name, path in tree_files(root).items() if name not in (MANIFEST, SIGNATURE)}


def check_tree(root: Path, manifest: Manifest) -> None:
    """Raise ``BundleError`` unless ``root`` holds exactly the manifest's files with the manifest's sums."""
    present = tree_files(root)
    for name, expected in sorted(manifest.files.items()):
        path = present.get(name)
        if path is None:
            raise BundleError(f"{name}: listed in {MANIFEST} but missing")
        actual = sha256_file(path)
        if actual != expected:
            raise BundleError(f"{name}: SHA-256 is {actual}, {MANIFEST} says {expected}")
    extra = sorted(set(present) - set(manifest.files) - {MANIFEST, SIGNATURE})
    if extra:
        raise BundleError(f"{extra[0]}: not listed in {MANIFEST} ({len(extra)} unlisted file(s))")
