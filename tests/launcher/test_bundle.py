"""``launcher.bundle``: the manifest format refuses what it cannot trust, naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from launcher.bundle import BundleError, Manifest, check_tree, hash_tree, parse_manifest

GOOD = {"format": 1, "product": "oibus", "version": "1.2.3", "platform": "linux-x64", "files": {"a": "0" * 64}}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": 2}, "format: expected 1"),
        ({"product": "other"}, "product: expected 'oibus'"),
        ({"version": "1.0; rm -rf /"}, "version: expected a version"),
        ({"platform": ""}, "platform: expected a platform"),
        ({"files": {}}, "files: expected a non-empty object"),
        ({"files": {"/etc/passwd": "0" * 64}}, "'/etc/passwd' is not a relative path"),
        ({"files": {"a/../../b": "0" * 64}}, "'a/../../b' is not a relative path"),
        ({"files": {"C:/x": "0" * 64}}, "'C:/x' is not a relative path"),
        ({"files": {"a": "XYZ"}}, "files.a: expected a lowercase hex SHA-256"),
        ({"files": {"manifest.json": "0" * 64}}, "cannot list itself"),
    ],
)
def test_bad_manifests_name_the_field(change: dict[str, object], message: str) -> None:
    with pytest.raises(BundleError, match=message.replace("(", r"\(").replace(".", r"\.")):
        parse_manifest(json.dumps({**GOOD, **change}).encode())


def test_not_json_is_refused() -> None:
    with pytest.raises(BundleError, match="not valid JSON"):
        parse_manifest(b"\xff")


def test_round_trip_and_tree_check(tmp_path: Path) -> None:
    (tmp_path / "binaries").mkdir()
    (tmp_path / "binaries" / "oibus").write_bytes(b"engine")
    manifest = Manifest(version="1.2.3", platform="linux-x64", files=hash_tree(tmp_path))
    assert parse_manifest(manifest.to_json()) == manifest
    check_tree(tmp_path, manifest)

    (tmp_path / "extra").write_bytes(b"")
    with pytest.raises(BundleError, match="extra: not listed"):
        check_tree(tmp_path, manifest)
    (tmp_path / "extra").unlink()
    (tmp_path / "link").symlink_to(tmp_path / "binaries" / "oibus")
    with pytest.raises(BundleError, match="link: symbolic links are not allowed"):
        check_tree(tmp_path, manifest)
