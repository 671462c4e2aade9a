"""Secrets given to the API never appear in plaintext in the data folder, the API answers or the logs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_process import EngineProcess, north_body, running_engine, scan_mode_id

SECRETS = ("Sm8-share-pw-7a1f9c", "L0ki-pw-3e55b2d1", "n3w-admin-pw-91c04e")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[EngineProcess]:
    with running_engine(tmp_path / "data") as process:
        yield process


def test_no_secret_in_plaintext_anywhere(engine: EngineProcess, tmp_path: Path) -> None:
    smb, loki, admin = SECRETS
    body = north_body(
        "share",
        "file-writer",
        {"outputFolder": str(tmp_path / "out"), "username": "svc", "password": smb},
        scan_mode_id(engine, "Every second"),
    )
    north = engine.ok("POST", "/api/north", body)
    engine.ok(
        "PUT",
        "/api/engine/logger",
        {
            "console": {"level": "debug"},
            "file": {"level": "debug"},
            "database": {"level": "debug"},
            "loki": {"level": "silent", "address": "http://127.0.0.1:9", "username": "u", "password": loki},
            "oia": {"level": "silent"},
            "syslog": {"level": "silent"},
        },
    )
    engine.wait_state("north", north["id"], "RUNNING")
    answers = [engine.request("GET", path)[1] for path in (f"/api/north/{north['id']}", "/api/engine")]
    assert all(secret not in str(answer) for answer in answers for secret in SECRETS)
    users = engine.ok("GET", "/api/users")["content"]
    admin_id = next(user["id"] for user in users if user["login"] == "admin")
    engine.ok("POST", f"/api/users/{admin_id}/password", {"currentPassword": "pass", "newPassword": admin})
    assert engine.stop() == 0

    leaks: list[str] = []
    for path in sorted(p for p in engine.data_dir.rglob("*") if p.is_file()):
        data = path.read_bytes()
        leaks.extend(f"{path.relative_to(engine.data_dir)}: {secret}" for secret in SECRETS if secret.encode() in data)
    log = engine.log()
    leaks.extend(f"engine log: {secret}" for secret in SECRETS if secret in log)
    assert leaks == []
    assert (engine.data_dir / "crypto.db").stat().st_mode & 0o077 == 0, "the key store is owner-only"
