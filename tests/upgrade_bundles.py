"""Release bundles for tests: a throwaway signing key, small install folders, and the packaging's own signing."""

from __future__ import annotations

import base64
import importlib.util
import shutil
import stat
import sys
import zipfile
from pathlib import Path
from types import ModuleType

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

REPO = Path(__file__).resolve().parents[1]


def packaging_build() -> ModuleType:
    """``packaging/build.py`` as a module (the folder is not a package: ``packaging`` is a PyPI name)."""
    loaded = sys.modules.get("oibus_packaging_build")
    if loaded is not None:
        return loaded
    spec = importlib.util.spec_from_file_location("oibus_packaging_build", REPO / "packaging" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def public_key_b64(key: Ed25519PrivateKey) -> str:
    """The public half as ``OIBUS_RELEASE_PUBLIC_KEY`` wants it."""
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def write_key(key: Ed25519PrivateKey, path: Path) -> Path:
    """The private key as a PEM file, as ``packaging/build.py --key`` reads it."""
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.write_bytes(pem)
    return path


def executable_file(path: Path, text: str) -> Path:
    """Write ``text`` and make it executable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def script_install(folder: Path, version: str, engine: str, *, launcher: str | None = None) -> Path:
    """An install folder whose ``binaries/oibus`` is the Python script ``engine`` (and its VERSION file)."""
    executable_file(folder / "binaries" / "oibus", f"#!{sys.executable}\n{engine}")
    (folder / "binaries" / "VERSION").write_text(version)
    if launcher is not None:
        executable_file(folder / "oibus-launcher", launcher)
    return folder


def signed_zip(folder: Path, key: Ed25519PrivateKey, version: str, out: Path) -> Path:
    """Sign ``folder`` (manifest of every file) and zip it, with the packaging's own functions."""
    build = packaging_build()
    build.sign(folder, key, version)
    zipped: Path = build.archive(folder, out)
    return zipped


def unzip(bundle: Path, target: Path) -> Path:
    """Unpack a bundle as an operator would (``unzip`` keeps the executable bits)."""
    with zipfile.ZipFile(bundle) as archive:
        for info in archive.infolist():
            path = target / info.filename
            path.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, path.open("wb") as out:
                shutil.copyfileobj(source, out)
            path.chmod((info.external_attr >> 16) & 0o777 or 0o644)
    return target


def snapshot(root: Path, *, skip: tuple[str, ...] = ()) -> dict[str, bytes]:
    """Every file under ``root`` and its bytes (to compare a folder before and after)."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.relative_to(root).as_posix().startswith(skip)
    }
