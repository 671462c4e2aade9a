"""Release build: a self-contained, signed OIBus bundle for this platform (runs without Python installed).

One PyInstaller run (``oibus.spec``) freezes the engine once as a folder (``binaries/oibus`` and
``binaries/_internal``; the same program runs the workers as ``oibus -m engine.worker``) and the launcher as one
file (``oibus-launcher``). The result is laid out as upstream's install folder, with the install and uninstall
scripts, then every file's SHA-256 goes into ``manifest.json``, signed with the release key into
``manifest.sig``, and the folder is zipped::

    python packaging/build.py build --out dist --key release.key    # or OIBUS_RELEASE_KEY_FILE=release.key
    python packaging/build.py restamp dist/oibus-0.1.0-linux-x64 --version 0.1.1 --out /tmp/y --key release.key
    python packaging/build.py sign FOLDER --key release.key           # (re)write manifest.json + manifest.sig
    python packaging/build.py keygen release.key                      # a new key pair; prints the public key

The version is ``pyproject.toml``'s, carried by the package metadata the build writes into
``binaries/_internal`` (and into the launcher). ``restamp`` copies a built folder under another version
(metadata rewritten, manifest re-signed) in about a second: tests make their "version Y" with it instead of a
second build. The launcher is one file whose own metadata is not rewritten: a restamped bundle keeps the
launcher (and launcher version) of the build it comes from.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from launcher.bundle import MANIFEST, SIGNATURE, Manifest, hash_tree, this_platform, valid_version  # noqa: E402

KEY_ENV = "OIBUS_RELEASE_KEY_FILE"
"""Environment variable naming the release private key file (PEM), when ``--key`` is not given."""


def project_version() -> str:
    """The one version number: ``pyproject.toml``'s."""
    with (ROOT / "pyproject.toml").open("rb") as file:
        return str(tomllib.load(file)["project"]["version"])


def scripts_folder() -> Path:
    """The install scripts that go into a bundle for this platform."""
    return HERE / ("windows" if sys.platform == "win32" else "linux")


def freeze(work: Path) -> Path:
    """Run PyInstaller on ``oibus.spec`` into ``work``; return the folder holding ``binaries/`` and the launcher."""
    version = project_version()
    # PyInstaller resolves relative paths against the spec's folder, not the caller's working directory.
    work = work.absolute()
    # The programs read their version from package metadata: give them pyproject.toml's, and nothing a stale
    # egg-info or an old editable install might say.
    metadata = work / "metadata" / f"oibus-{version}.dist-info"
    if metadata.parent.exists():
        shutil.rmtree(metadata.parent)
    metadata.mkdir(parents=True)
    (metadata / "METADATA").write_text(f"Metadata-Version: 2.1\nName: oibus\nVersion: {version}\n", encoding="utf-8")
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN"]
    command += ["--distpath", str(work / "dist"), "--workpath", str(work / "build"), str(HERE / "oibus.spec")]
    subprocess.run(command, check=True, cwd=ROOT, env={**os.environ, "OIBUS_BUILD_METADATA": str(metadata)})
    return work / "dist"


def lay_out(frozen: Path, folder: Path) -> None:
    """Upstream's install folder: ``oibus-launcher``, ``binaries/``, the install and uninstall scripts."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    launcher = "oibus-launcher.exe" if sys.platform == "win32" else "oibus-launcher"
    shutil.copy2(frozen / launcher, folder / launcher)
    shutil.copytree(frozen / "binaries", folder / "binaries")
    for script in sorted(scripts_folder().iterdir()):
        shutil.copy2(script, folder / script.name)


def stamp(folder: Path, version: str) -> None:
    """Make ``binaries/`` report ``version`` (the package metadata the engine reads its version from)."""
    valid_version(version)
    (info,) = (folder / "binaries" / "_internal").glob("oibus-*.dist-info")
    metadata = info / "METADATA"
    text = re.sub(r"(?m)^Version: .*$", f"Version: {version}", metadata.read_text(encoding="utf-8"), count=1)
    metadata.write_text(text, encoding="utf-8")
    info.rename(info.with_name(f"oibus-{version}.dist-info"))


def folder_version(folder: Path) -> str:
    """The version a built folder carries (its package metadata folder's name)."""
    (info,) = (folder / "binaries" / "_internal").glob("oibus-*.dist-info")
    return valid_version(info.name.removeprefix("oibus-").removesuffix(".dist-info"))


def load_key(path: Path | None) -> Ed25519PrivateKey:
    """The release private key from ``path`` or :data:`KEY_ENV` (PEM, PKCS#8, unencrypted)."""
    source = path or (Path(os.environ[KEY_ENV]) if os.environ.get(KEY_ENV) else None)
    if source is None:
        raise SystemExit(f"no signing key: give --key PATH or set {KEY_ENV} (or build with --unsigned)")
    key = serialization.load_pem_private_key(source.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise SystemExit(f"{source}: not an Ed25519 private key")
    return key


def sign(folder: Path, key: Ed25519PrivateKey | None, version: str) -> Manifest:
    """Write ``manifest.json`` (every file's SHA-256) and, with a key, ``manifest.sig``."""
    for name in (MANIFEST, SIGNATURE):
        (folder / name).unlink(missing_ok=True)
    manifest = Manifest(version=version, platform=this_platform(), files=hash_tree(folder))
    raw = manifest.to_json()
    (folder / MANIFEST).write_bytes(raw)
    if key is not None:
        (folder / SIGNATURE).write_bytes(base64.b64encode(key.sign(raw)) + b"\n")
    return manifest


def archive(folder: Path, out: Path) -> Path:
    """Zip the folder's content (at the archive's root, Unix modes kept) as ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    temp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zip_file:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zip_file.write(path, path.relative_to(folder).as_posix())
    os.replace(temp, out)
    return out


def bundle_name(version: str) -> str:
    """``oibus-<version>-<platform>``: the folder and (with ``.zip``) the archive name."""
    return f"oibus-{version}-{this_platform()}"


def build(out: Path, key: Ed25519PrivateKey | None, work: Path | None = None) -> Path:
    """Freeze, lay out, sign and zip this checkout; return the zip."""
    version = project_version()
    frozen = freeze(work or out / "work")
    folder = out / bundle_name(version)
    lay_out(frozen, folder)
    sign(folder, key, version)
    return archive(folder, out / f"{bundle_name(version)}.zip")


def restamp(source: Path, version: str, out: Path, key: Ed25519PrivateKey | None) -> Path:
    """Copy a built folder as ``version``, re-signed, into ``out``; return the new folder (zip it with ``archive``)."""
    folder = out / bundle_name(version)
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(source, folder)
    stamp(folder, version)
    sign(folder, key, version)
    return folder


def keygen(path: Path) -> str:
    """Write a new release private key to ``path`` (mode 600); return the public key as the engine wants it."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def main(argv: list[str] | None = None) -> None:
    """Command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="packaging/build.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("build", "restamp", "sign"):
        command = commands.add_parser(name)
        command.add_argument("--key", type=Path, help=f"release private key (PEM); default: ${KEY_ENV}")
        command.add_argument("--unsigned", action="store_true", help="no manifest.sig (the engine refuses it)")
        if name == "build":
            command.add_argument("--out", type=Path, default=ROOT / "dist")
            command.add_argument("--work", type=Path, help="PyInstaller work folder (default: OUT/work)")
        else:
            command.add_argument("folder", type=Path)
        if name == "restamp":
            command.add_argument("--version", required=True)
            command.add_argument("--out", type=Path, required=True)
    commands.add_parser("keygen").add_argument("path", type=Path)
    args = parser.parse_args(argv)
    # Relative paths are the caller's, wherever the command runs from (the docs say ``--out dist``).
    for name, value in vars(args).items():
        if isinstance(value, Path):
            setattr(args, name, value.absolute())
    if args.command == "keygen":
        print(keygen(args.path))
        return
    key = None if args.unsigned else load_key(args.key)
    if args.command == "build":
        print(build(args.out, key, args.work))
    elif args.command == "restamp":
        folder = restamp(args.folder, args.version, args.out, key)
        print(archive(folder, args.out / f"{folder.name}.zip"))
    else:
        manifest = sign(args.folder, key, folder_version(args.folder))
        print(f"{len(manifest.files)} files signed in {args.folder / MANIFEST}")


if __name__ == "__main__":
    main()
