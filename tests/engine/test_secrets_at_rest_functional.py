"""Secrets given to the API never appear in plaintext in the data folder, the API answers or the logs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


CONNECTOR_SECRETS = {
    "mqtt-south": "mqtt-s0uth-pw-5d2e",
    "opcua-south": "opcua-s0uth-pw-8c1a",
    "mqtt-north": "mqtt-n0rth-pw-0b7f",
    "opcua-north": "opcua-n0rth-pw-e3d4",
    "oibus-north": "oibus-n0rth-pw-61aa",
    "oibus-proxy": "oibus-pr0xy-pw-9f03",
    "oia-north": "oia-s3cret-key-2b8c",
    "builtin-proxy": "builtin-pr0xy-pw-47c9",
}


def secret_fields(answer: Any) -> list[Any]:
    """Values of the secret-named fields (password, proxyPassword, secretKey) anywhere in an API answer."""
    if isinstance(answer, dict):
        own = [value for key, value in answer.items() if key in ("password", "proxyPassword", "secretKey")]
        return own + [found for value in answer.values() for found in secret_fields(value)]
    if isinstance(answer, list):
        return [found for value in answer for found in secret_fields(value)]
    return []


def south_of(type_: str, settings: dict[str, Any]) -> dict[str, Any]:
    return {"name": type_, "type": type_, "description": "", "enabled": False, "settings": settings, "items": []}


def test_protocol_and_relay_secrets_stay_encrypted(engine: EngineProcess) -> None:
    """The secrets of the protocol, relay and OIAnalytics connectors and of the built-in proxy, as above."""
    s = CONNECTOR_SECRETS
    mode = scan_mode_id(engine, "Every second")
    mqtt_auth = {"type": "basic", "username": "u", "password": s["mqtt-south"]}
    opcua_auth = {"type": "basic", "username": "u", "password": s["opcua-south"]}
    engine.ok("POST", "/api/south", south_of("mqtt", {"url": "mqtt://127.0.0.1:9", "authentication": mqtt_auth}))
    engine.ok("POST", "/api/south", south_of("opcua", {"url": "opc.tcp://127.0.0.1:9", "authentication": opcua_auth}))
    norths: list[tuple[str, dict[str, Any]]] = [
        ("mqtt", {"url": "mqtt://127.0.0.1:9", "authentication": {**mqtt_auth, "password": s["mqtt-north"]}}),
        ("opcua", {"url": "opc.tcp://127.0.0.1:9", "authentication": {**opcua_auth, "password": s["opcua-north"]}}),
        (
            "oibus",
            {
                "host": "http://127.0.0.1:9",
                "username": "ot",
                "password": s["oibus-north"],
                "useProxy": True,
                "proxyUrl": "http://127.0.0.1:8",
                "proxyUsername": "p",
                "proxyPassword": s["oibus-proxy"],
            },
        ),
        (
            "oianalytics",
            {
                "useOiaModule": False,
                "specificSettings": {"host": "http://127.0.0.1:9", "accessKey": "k", "secretKey": s["oia-north"]},
            },
        ),
    ]
    created = []
    for type_, settings in norths:
        body = north_body(type_, type_, settings, mode)
        body["enabled"] = False
        created.append(engine.ok("POST", "/api/north", body)["id"])
    proxy = {"enabled": False, "port": 9000, "username": "p", "password": s["builtin-proxy"]}
    assert engine.request("PUT", "/api/engine/proxy", proxy)[0] in (200, 204)
    answers = [engine.request("GET", path)[1] for path in ("/api/south", "/api/north", "/api/engine")]
    answers += [engine.request("GET", f"/api/north/{north_id}")[1] for north_id in created]
    for south in engine.ok("GET", "/api/south"):
        answers.append(engine.request("GET", f"/api/south/{south['id']}")[1])
    assert all(secret not in str(answer) for answer in answers for secret in s.values())
    # The fields were taken as secrets (blanked in answers), not dropped as unknown: 2 Souths, 4 Norths, 1 proxy.
    blanked = [value for answer in answers for value in secret_fields(answer)]
    assert len(blanked) >= 8 and set(blanked) == {""}, blanked
    assert engine.stop() == 0
    leaks = [
        f"{path.relative_to(engine.data_dir)}: {name}"
        for path in sorted(p for p in engine.data_dir.rglob("*") if p.is_file())
        for name, secret in s.items()
        if secret.encode() in path.read_bytes()
    ]
    leaks.extend(f"engine log: {name}" for name, secret in s.items() if secret in engine.log())
    assert leaks == []
