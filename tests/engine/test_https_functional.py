"""The optional HTTPS listener of a real engine process: certificate generated in ``certs/``, HTTP kept or not."""

from __future__ import annotations

import socket
import ssl
import stat
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from config_fakes import FAST_HASHER
from engine_process import AUTH, EngineProcess, announced_ports

from engine.config import ConfigStore, InitSettings


def configure(data_dir: Path, http_port: int, **https: object) -> None:
    """Store the engine settings before the engine starts (as an operator's earlier PUT would have)."""
    with ConfigStore.open(data_dir, init=InitSettings(port=http_port), password_hasher=FAST_HASHER) as store:
        store.update_engine_settings({"webServer": {"https": https}})


def status(url: str, context: ssl.SSLContext | None, *, auth: bool) -> int:
    request = urllib.request.Request(url, headers={"Authorization": AUTH} if auth else {})
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            code: int = response.status
            return code
    except urllib.error.HTTPError as err:
        return err.code


def refuses_connections(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_https_with_a_generated_certificate_then_without_http(tmp_path: Path) -> None:
    # Port 0 for both listeners: the system assigns them and the engine's console line says which.
    data_dir = tmp_path / "data"
    configure(data_dir, 0, enabled=True, port=0)
    cert_path, key_path = data_dir / "certs" / "cert.pem", data_dir / "certs" / "private.pem"
    assert not cert_path.exists()

    engine = EngineProcess(data_dir).start()
    try:
        ports = announced_ports(engine.log())
        assert ports is not None and set(ports) == {"http", "https"}, engine.log()
        http_port, https_port = ports["http"], ports["https"]
        assert cert_path.is_file() and stat.S_IMODE(key_path.stat().st_mode) == 0o600
        # Clients pin the self-signed certificate; its names cover 127.0.0.1 and localhost.
        pinned = ssl.create_default_context(cafile=str(cert_path))
        base = f"https://127.0.0.1:{https_port}"
        assert status(f"{base}/api/engine/info", pinned, auth=True) == 200
        assert status(f"{base}/api/engine/info", pinned, auth=False) == 401
        assert status(f"https://localhost:{https_port}/api/engine/status", pinned, auth=False) == 204
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            status(f"{base}/api/engine/status", ssl.create_default_context(), auth=False)
        # HTTP is kept by default.
        assert status(f"http://127.0.0.1:{http_port}/api/engine/info", None, auth=True) == 200
    finally:
        assert engine.stop() == 0, engine.log()
    certificate = cert_path.read_bytes()

    configure(data_dir, 0, enabled=True, port=0, keepHttp=False)
    engine = EngineProcess(data_dir, tls=pinned).start()
    try:
        assert engine.ok("GET", "/api/engine/info")["oibusName"] == "OIBus"
        assert set(announced_ports(engine.log()) or {}) == {"https"}, engine.log()
        assert refuses_connections(http_port)
        # The certificate of the first start is kept.
        assert cert_path.read_bytes() == certificate
    finally:
        assert engine.stop() == 0, engine.log()


def test_settings_refuse_one_port_for_both(tmp_path: Path) -> None:
    with ConfigStore.open(tmp_path, init=InitSettings(port=2300), password_hasher=FAST_HASHER) as store:
        with pytest.raises(ValueError, match=r"webServer\.https\.port"):
            store.update_engine_settings({"webServer": {"https": {"enabled": True, "port": 2300}}})
        # Without HTTP, HTTPS may take the HTTP port.
        store.update_engine_settings({"webServer": {"https": {"enabled": True, "port": 2300, "keepHttp": False}}})
        assert store.engine_settings().web_server.https.port == 2300
